"""Seconds per training step with torch's dropout masks and with recsft's, side by side.

recsft draws dropout masks on the CPU from 16-bit slices of 64-bit random words and drops
attention weights in its own attention (:mod:`recsft.modeling.dropout`); torch draws one
Bernoulli number per element and its SDPA kernel falls back to a slower path once attention
dropout is on. Both variants run in one process on the same model and the same batches (the
config's own, as :mod:`profile_training_step` prepares them), alternating round by round so
that the machine's drift falls on both; the forward pass, loss, backward pass, clipping and
AdamW update are timed. The torch variant is made by putting torch's modules back: every
dropout module's class back to ``nn.Dropout``, and transformers' SDPA attention in place of
:func:`recsft.modeling.dropout.attention_forward`.

Writes ``benchmarks/results/dropout_<name>.json`` (machine, versions, config, every round's
seconds per step, medians and the ratio).

Usage:
    RECSFT_DATA_DIR=../shared/data python scripts/benchmark_dropout.py \\
        --config configs/sasrec-ml100k.yaml --set training.batch_size=256 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
for path in (ROOT, SCRIPTS):
    if path not in sys.path:
        sys.path.insert(0, path)

from profile_training_step import prepare_steps  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output")
    args = parser.parse_args()

    import torch
    from torch import nn
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    import recsft.modeling.dropout as recsft_dropout
    from recsft.environment import environment
    from recsft.fileio import atomic_write_text

    torch.set_num_threads(args.threads)
    config, _, model, batches, optimizer = prepare_steps(args.config, args.overrides,
                                                         args.steps + 1)
    recsft_attention = recsft_dropout.attention_forward
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]

    def use(variant: str) -> None:
        ours = variant == "recsft"
        for module in dropouts:
            module.__class__ = recsft_dropout.Dropout if ours else nn.Dropout
        recsft_dropout.attention_forward = recsft_attention if ours else sdpa_attention_forward

    def step(batch: dict) -> None:
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.training.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()

    seconds: dict[str, list[float]] = {"torch": [], "recsft": []}
    try:
        for round_ in range(args.rounds):
            order = ("torch", "recsft") if round_ % 2 == 0 else ("recsft", "torch")
            for variant in order:
                use(variant)
                step(batches[0])  # warm-up
                start = time.perf_counter()
                for batch in batches[1:]:
                    step(batch)
                seconds[variant].append((time.perf_counter() - start) / args.steps)
    finally:
        use("recsft")
    medians = {k: statistics.median(v) for k, v in seconds.items()}
    record = {
        "config": config.to_dict(), "command": " ".join(sys.argv),
        "environment": environment(), "steps_per_round": args.steps, "rounds": args.rounds,
        "batch_shapes": [list(b["input_ids"].shape) for b in batches[1:]],
        "seconds_per_step": seconds, "median_seconds_per_step": medians,
        "ratio_recsft_to_torch": medians["recsft"] / medians["torch"],
    }
    out = args.output or os.path.join(ROOT, "benchmarks", "results",
                                      f"dropout_{config.name}.json")
    atomic_write_text(out, json.dumps(record, indent=2, default=str) + "\n")
    print(f"torch {medians['torch']:.3f} s/step, recsft {medians['recsft']:.3f} s/step, "
          f"ratio {record['ratio_recsft_to_torch']:.3f} -> {out}")


if __name__ == "__main__":
    main()
