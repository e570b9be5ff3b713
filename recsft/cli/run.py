"""``recsft run verify | seal``: check a run folder, or record a manifest for an old one."""

from __future__ import annotations

import argparse


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the run-folder commands."""
    run = commands.add_parser("run", help="check a run folder (manifest, digests, ids)")
    verbs = run.add_subparsers(dest="run_command", required=True, metavar="VERB")
    verify = verbs.add_parser("verify", help="check every file against the manifest and every "
                              "id-bearing file against the tokenizer")
    verify.add_argument("--run", required=True, help="run folder")
    verify.set_defaults(handler=_verify)
    seal = verbs.add_parser("seal", help="record a manifest for a run folder written before "
                            "recsft kept manifests (only for a folder you trust)")
    seal.add_argument("--run", required=True, help="run folder")
    seal.set_defaults(handler=_seal)


def _verify(args: argparse.Namespace) -> int:
    from recsft.runs import Run

    run = Run.open(args.run)
    run.check_consistency()
    info = run.manifest.info
    print(f"{run.path}: complete and intact ({len(run.manifest.files)} files, "
          f"{info.get('model_type')}, {info.get('num_items')} items)")
    return 0


def _seal(args: argparse.Namespace) -> int:
    from recsft.runs import Run

    run = Run.seal(args.run)
    print(f"{run.path}: manifest written ({len(run.manifest.files)} files)")
    return 0
