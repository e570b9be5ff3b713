"""Regularisation against early over-fitting, by measurement (issue 28, point 3).

Two regularisers, both off by default, each set against the records it changes:

- ``training.embedding_weight_decay`` (AdamW decay on the embedding tables, which recsft never
  decayed) on the sparse catalogue where the hand-tuned SASRec peaks early (Scientific, best
  epoch 15–20), a grid of values over three seeds; the value is chosen on **validation**
  NDCG@10 only, its test figure read once;
- the chosen decay on a second sparse catalogue (Beauty, S3-Rec files), one seed, against the
  hand-tuned config's seed;
- ``training.stopping_smoothing`` (early stopping on a moving average of the validation curve)
  with validation every epoch, against the same schedule on the raw curve and the two untuned
  schedules of the defaults study (the old one, 20 epochs at most, that stopped on validation
  noise; the new one that validates every 5 epochs). The schedules measured here have a
  200-epoch cap, as the new one, so the learning rate decays alike.

Reads ``benchmarks/results/quality_<name>.json`` records (never invents a missing one), writes
``benchmarks/results/regularisation_study.json`` and the block between
``<!-- regularisation:start -->`` and ``<!-- regularisation:end -->`` in docs/tuning.md.

The trainings (RECSFT_DATA_DIR=../shared/data), one at a time::

    python scripts/benchmark_quality.py --config configs/sasrec-scientific.yaml \\
        --set 'evaluation.ks=[5,10,20,50]' --set training.embedding_weight_decay=<v> \\
        --set name=reg-embwd<v>-sasrec-scientific --seeds 42 43 44     # v in 0.1 1 10
    python scripts/benchmark_quality.py --config configs/sasrec-beauty.yaml \\
        --set training.embedding_weight_decay=1 --set name=reg-embwd1-sasrec-beauty --seeds 42
    python scripts/benchmark_quality.py --config configs/defaults/sasrec-ml100k.yaml \\
        --set training.epochs=200 --set training.eval_every=1 --set training.patience=5 \\
        --set training.stopping_smoothing=0.7 --set name=reg-smooth-sasrec-ml100k --seeds 42
    # and the same without stopping_smoothing, named reg-raw-sasrec-ml100k

Usage:
    python scripts/regularisation_study.py
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from text_study import RESULTS, _interval, _record, write_marked_block  # noqa: E402

DOC = os.path.join(ROOT, "docs", "tuning.md")
METRIC = "ndcg@10"
EMBEDDING_DECAYS = ("0.1", "1", "10")
#: (group, catalogue, label, record, is a candidate chosen on validation)
ROWS = [
    ("embedding decay", "Amazon Scientific", "hand-tuned config (no embedding decay)",
     "sasrec-scientific", False),
    ("embedding decay", "Amazon Scientific", "hand-tuned config, trained again here",
     "reg-base-sasrec-scientific", False),
    *[("embedding decay", "Amazon Scientific", f"+ embedding_weight_decay {v}",
       f"reg-embwd{v}-sasrec-scientific", True) for v in EMBEDDING_DECAYS],
    ("smoothed stopping", "MovieLens-100K", "untuned, old schedule (every epoch, patience 5)",
     "defaults-sasrec-ml100k", False),
    ("smoothed stopping", "MovieLens-100K", "untuned, new schedule (every 5 epochs, patience 3)",
     "defaults2-sasrec-ml100k", False),
    ("smoothed stopping", "MovieLens-100K", "untuned, every epoch, patience 5, smoothing 0.7",
     "reg-smooth-sasrec-ml100k", False),
    ("smoothed stopping", "MovieLens-100K", "untuned, every epoch, patience 5, raw curve",
     "reg-raw-sasrec-ml100k", False),
    ("embedding decay, value from Scientific", "Amazon Beauty (S3-Rec files)",
     "hand-tuned config (no embedding decay)", "sasrec-beauty", False),
    ("embedding decay, value from Scientific", "Amazon Beauty (S3-Rec files)",
     "+ embedding_weight_decay 1", "reg-embwd1-sasrec-beauty", False),
]


def row(group: str, catalogue: str, label: str, name: str, candidate: bool) -> dict[str, Any]:
    """One record's validation and test NDCG@10, per seed and summarised."""
    entry: dict[str, Any] = {"group": group, "catalogue": catalogue, "label": label,
                             "record": f"quality_{name}.json", "candidate": candidate}
    record = _record(name)
    if record is None or METRIC not in record.get("summary", {}):
        return {**entry, "missing": True}
    seeds = record["seeds"]
    valid = [s.get("valid", {}).get(METRIC) for s in seeds]
    training = [s.get("training") or {} for s in seeds]
    return {**entry, "seeds": [s["seed"] for s in seeds],
            "test": _interval(record["summary"], METRIC),
            "test_by_seed": {str(s["seed"]): s["test"][METRIC] for s in seeds},
            "valid_by_seed": {str(s["seed"]): v for s, v in zip(seeds, valid)},
            "valid_mean": (sum(valid) / len(valid)) if None not in valid else None,
            "best_epoch": [t.get("best_epoch") for t in training],
            "epochs_run": [t.get("epochs_run") for t in training],
            "train_seconds": [t.get("train_seconds") for t in training]}


def choose(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The candidate with the best mean validation NDCG@10 (the test split is not read)."""
    measured = [r for r in rows if r["candidate"] and not r.get("missing")]
    return max(measured, key=lambda r: r["valid_mean"], default=None)


def _cell(r: dict[str, Any]) -> str:
    if r.get("missing"):
        return "not run"
    test = r["test"]
    return f"{test['mean']:.4f} [{test['low']:.4f}, {test['high']:.4f}]"


def markdown(rows: list[dict[str, Any]], chosen: dict[str, Any] | None) -> str:
    lines = ["| catalogue | variant | seeds | valid NDCG@10 | test NDCG@10 | test, seed 42 | "
             "best / last epoch |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        label = f"**{r['label']}** (chosen on validation)" if r is chosen else r["label"]
        if r.get("missing"):
            lines.append(f"| {r['catalogue']} | {label} | | | not run | | |")
            continue
        epochs = ", ".join(f"{b}/{e}" for b, e in zip(r["best_epoch"], r["epochs_run"]))
        seed42 = r["test_by_seed"].get("42")
        lines.append(f"| {r['catalogue']} | {label} | {len(r['seeds'])} | "
                     f"{r['valid_mean']:.4f} | {_cell(r)} | "
                     f"{'' if seed42 is None else f'{seed42:.4f}'} | {epochs} |")
    lines.append("")
    lines.append("Test NDCG@10, full ranking, history items filtered; mean [95 % interval: "
                 "Student t over seeds with several seeds, bootstrap over users with one]. "
                 "Valid: mean over seeds of the best validation NDCG@10, the only figure the "
                 "choice reads.")
    return "\n".join(lines)


def main() -> None:
    from recsft.environment import environment
    from recsft.fileio import atomic_write_text

    rows = [row(*entry) for entry in ROWS]
    chosen = choose(rows)
    record = {"metric": METRIC, "rows": rows,
              "chosen_embedding_weight_decay": chosen and chosen["label"],
              "environment": environment(),
              "command": "python scripts/regularisation_study.py"}
    atomic_write_text(os.path.join(RESULTS, "regularisation_study.json"),
                      json.dumps(record, indent=2, default=str) + "\n")
    table = markdown(rows, chosen)
    write_marked_block(DOC, "regularisation", table)
    print(table)


if __name__ == "__main__":
    main()
