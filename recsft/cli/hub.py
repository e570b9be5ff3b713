"""``recsft push``: a run folder to a Hugging Face Hub model repository."""

from __future__ import annotations

import argparse


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the hub commands."""
    push = commands.add_parser("push", help="upload a run folder to the Hugging Face Hub")
    push.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    push.add_argument("--repo-id", required=True, help="Hub repository, e.g. user/name")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    push.add_argument("--dry-run", action="store_true",
                      help="list the files that would be uploaded, upload nothing")
    push.set_defaults(handler=_push)


def _push(args: argparse.Namespace) -> int:
    from recsft.hub import HubError, files_to_push, push_to_hub

    if args.dry_run:
        names = files_to_push(args.run)
        for name in names:
            print(name)
        print(f"{len(names)} files would be uploaded to {args.repo_id} (with README.md, the "
              "model card, written if missing)")
        return 0
    try:
        url = push_to_hub(args.run, args.repo_id, token=args.token, private=args.private)
    except HubError as err:
        from recsft.errors import RecsftError

        raise RecsftError(str(err)) from err
    print(url)
    return 0
