"""The full-softmax loss of one training batch, forward and backward, three ways side by side.

``whole``: ``F.cross_entropy(queries @ items.T, targets)``, the ``n × V`` logits, their
log-softmax and gradient formed whole; ``blocks``: :func:`recsft.modeling.chunked_ce.
chunked_cross_entropy` keeping each row's log-sum-exp and computing every block's logits again
in the backward pass; ``blocks, softmax kept``: the same keeping the ``n × V`` softmax instead
(what :func:`recsft.modeling.losses.item_loss` does up to ``CE_KEEP_ELEMENTS`` logits). Random
float32 queries and items of the batch shapes given (rows × items: labelled positions of a
batch × catalogue), the variants alternating round by round; the minimum and median of the
rounds are recorded.

Writes ``benchmarks/results/softmax_loss.json`` (machine, versions, shapes, every round).

Usage:
    python scripts/benchmark_softmax_loss.py --shapes 19311x1682 11567x12101 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["19311x1682", "11567x12101"],
                        help="rows x items; defaults: a MovieLens-100K SASRec batch of 256 "
                             "windows (length 200) and an Amazon Beauty one (length 50)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results",
                                                         "softmax_loss.json"))
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from recsft.environment import environment
    from recsft.fileio import atomic_write_text
    from recsft.modeling.chunked_ce import chunked_cross_entropy
    from recsft.modeling.losses import CE_CHUNK_ELEMENTS

    torch.set_num_threads(args.threads)
    results = []
    for shape in args.shapes:
        rows, items = (int(part) for part in shape.lower().split("x"))
        generator = torch.Generator().manual_seed(0)
        queries = torch.randn(rows, args.hidden, generator=generator, requires_grad=True)
        table = torch.randn(items, args.hidden, generator=generator, requires_grad=True)
        targets = torch.randint(0, items, (rows,), generator=generator)
        chunk = max(1, CE_CHUNK_ELEMENTS // items)
        variants = ("whole", "blocks", "blocks, softmax kept")

        def loss(name: str, queries=queries, table=table, targets=targets, chunk=chunk):
            if name == "whole":
                return F.cross_entropy(queries @ table.T, targets)
            return chunked_cross_entropy(queries, table, targets, chunk, name != "blocks")
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.rounds):
            names = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in names:
                queries.grad = table.grad = None
                start = time.perf_counter()
                loss(name).backward()
                seconds[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) for name, values in seconds.items()}
        results.append({"rows": rows, "items": items, "hidden": args.hidden,
                        "chunk_rows": chunk, "seconds": seconds, "median_seconds": medians,
                        "min_seconds": {k: min(v) for k, v in seconds.items()},
                        "ratio_kept_to_blocks": medians["blocks, softmax kept"]
                        / medians["blocks"],
                        "ratio_kept_to_whole": medians["blocks, softmax kept"] / medians["whole"]})
        print(f"{rows} x {items}: " + ", ".join(f"{k} {v:.3f} s" for k, v in medians.items()))
    record = {"command": " ".join(sys.argv), "environment": environment(),
              "rounds": args.rounds, "results": results}
    atomic_write_text(args.output, json.dumps(record, indent=2) + "\n")
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
