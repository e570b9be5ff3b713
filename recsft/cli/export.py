"""``recsft export onnx``: a run's sequence encoder as an ONNX file for onnxruntime."""

from __future__ import annotations

import argparse
import json


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the export commands."""
    export = commands.add_parser("export", help="export a run's model for another runtime")
    formats = export.add_subparsers(dest="export_command", required=True, metavar="FORMAT")
    onnx = formats.add_parser(
        "onnx", help="the sequence encoder (model inputs -> user vectors) as ONNX, checked "
        "against the eager model with onnxruntime before it is written")
    onnx.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    onnx.add_argument("--output", help="ONNX file (default: <run>/encoder.onnx, recorded in the "
                      "run's manifest); an existing file only if recsft exported it")
    onnx.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's; at "
                      "least 18)")
    onnx.add_argument("--json", action="store_true", help="print JSON instead of text")
    onnx.set_defaults(handler=_onnx)


def _onnx(args: argparse.Namespace) -> int:
    import os

    from recsft import progress
    from recsft.export.onnx import OnnxEncoder, export_onnx

    progress.note(f"exporting the encoder of {args.run} to ONNX (then checking it with "
                  "onnxruntime)")
    path = export_onnx(args.run, args.output, args.opset)
    encoder = OnnxEncoder(path, threads=1)
    meta = encoder.metadata
    result = {"path": str(path), "model_type": encoder.model_type,
              "model_sha256": encoder.model_sha256, "inputs": encoder.input_names,
              "dim": encoder.dim, "max_length": encoder.max_length,
              "opset": encoder.opset, "bytes": os.path.getsize(path),
              "max_abs_diff": float(meta.get("recsft.max_abs_diff", "nan"))}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{path}: {encoder.model_type} encoder, opset {encoder.opset}, inputs "
              f"{', '.join(encoder.input_names)} -> ({encoder.dim},) user vectors, "
              f"{result['bytes'] / 2**20:.1f} MiB; onnxruntime matches the eager model within "
              f"{result['max_abs_diff']:.1e}")
    return 0
