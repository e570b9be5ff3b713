"""Do recsft's untuned defaults hold on every development catalogue? (issue 28, point 2)

For each catalogue, reads three kinds of benchmark record and never invents a missing one:

- the untuned run: ``configs/defaults/sasrec-<catalogue>.yaml`` sets only the dataset and its
  protocol's maximum length; every model and training setting is recsft's default
  (``benchmarks/results/quality_defaults-sasrec-<catalogue>.json``);
- the hand-tuned config (``quality_sasrec-<catalogue>.json``);
- the ``recsft tune`` result where one exists (``tuning_sasrec-<catalogue>.json``: the chosen
  config's final trainings, tested once).

The reference is the tuned result where there is one, else the hand-tuned config. A catalogue's
untuned figure is *inside* when its mean lies at or above the lower end of the reference's
interval; otherwise the gap is stated. Writes ``benchmarks/results/defaults_study.json`` and the
block between ``<!-- defaults-study:start -->`` and ``<!-- defaults-study:end -->`` in
docs/tuning.md.

The trainings (RECSFT_DATA_DIR=../shared/data)::

    python scripts/benchmark_quality.py --config configs/defaults/sasrec-scientific.yaml \\
        --seeds 42 43 44          # likewise ml100k; beauty and beauty-bert4rec with --seeds 42

Usage:
    python scripts/defaults_study.py
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
#: The training schedule tried as the new default (``--set`` on the untuned configs: records
#: ``quality_defaults2-sasrec-<catalogue>.json``).
PROPOSED = {"training.epochs": 200, "training.eval_every": 5, "training.patience": 3}
#: (catalogue, untuned record, untuned with PROPOSED, hand-tuned record, tuning record)
CATALOGUES = [
    ("MovieLens-100K", "defaults-sasrec-ml100k", "defaults2-sasrec-ml100k", "sasrec-ml100k",
     "sasrec-ml100k"),
    ("Amazon Beauty (S3-Rec files)", "defaults-sasrec-beauty", "defaults2-sasrec-beauty",
     "sasrec-beauty", "sasrec-beauty"),
    ("Amazon Beauty (BERT4Rec files)", "defaults-sasrec-beauty-bert4rec",
     "defaults2-sasrec-beauty-bert4rec", "sasrec-pop-beauty-bert4rec", "sasrec-beauty-bert4rec"),
    ("Amazon Scientific", "defaults-sasrec-scientific", "defaults2-sasrec-scientific",
     "sasrec-scientific", "sasrec-scientific"),
]


def quality_cell(name: str) -> dict[str, Any] | None:
    """A quality record's NDCG@10 with its interval and training cost, or ``None``."""
    record = _record(name)
    if record is None or METRIC not in record.get("summary", {}):
        return None
    training = [s.get("training") or {} for s in record["seeds"]]
    return {"record": f"quality_{name}.json", "seeds": [s["seed"] for s in record["seeds"]],
            **_interval(record["summary"], METRIC),
            "train_seconds": [t.get("train_seconds") for t in training],
            "epochs_run": [t.get("epochs_run") for t in training],
            "best_epoch": [t.get("best_epoch") for t in training]}


def tuned_cell(name: str) -> dict[str, Any] | None:
    """The pruned study's final test NDCG@10 of a ``tuning_<name>.json``
    (``scripts/benchmark_tuning.py``: the study with and without the pruner), else of a
    ``tune_<name>-hyperband.json`` (one ``recsft tune`` study's ``tune_result.json``), or
    ``None``."""
    path = os.path.join(RESULTS, f"tuning_{name}.json")
    if not os.path.isfile(path):
        return _single_study_cell(f"tune_{name}-hyperband.json")
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    study = next(s for key, s in record["studies"].items() if key != "none")
    summary = study["final_test"].get(METRIC)
    if summary is None:
        return None
    return {"record": f"tuning_{name}.json", "seeds": study["final_seeds"],
            **_interval({METRIC: summary}, METRIC), "best_params": study["best_params"]}


def _single_study_cell(file: str) -> dict[str, Any] | None:
    path = os.path.join(RESULTS, file)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    final = record.get("final") or {}
    summary = final.get("test", {}).get(METRIC)
    if summary is None:
        return None
    return {"record": file, "seeds": final["seeds"], **_interval({METRIC: summary}, METRIC),
            "best_params": record["best"]["params"]}


def catalogue_row(label: str, untuned: str, proposed: str, hand: str, tuned: str
                  ) -> dict[str, Any]:
    row: dict[str, Any] = {"catalogue": label, "untuned": quality_cell(untuned),
                           "proposed": quality_cell(proposed),
                           "hand_tuned": quality_cell(hand), "tuned": tuned_cell(tuned)}
    reference = row["tuned"] or row["hand_tuned"]
    row["reference"] = "tuned" if row["tuned"] else ("hand_tuned" if reference else None)
    for key in ("untuned", "proposed"):
        if row[key] and reference:
            gap = row[key]["mean"] - reference["mean"]
            row[f"{key}_gap"] = {"gap": gap, "relative": gap / reference["mean"],
                                 "inside": row[key]["mean"] >= reference["low"]}
    return row


def _fmt(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "not run"
    return f"{cell['mean']:.4f} [{cell['low']:.4f}, {cell['high']:.4f}]"


def _verdict(gap: dict[str, Any] | None) -> str:
    if not gap:
        return "—"
    return (f"{gap['gap']:+.4f} ({gap['relative']:+.0%}), "
            + ("inside" if gap["inside"] else "below"))


def markdown(rows: list[dict[str, Any]]) -> str:
    proposed = ", ".join(f"{k.split('.')[1]} {v}" for k, v in PROPOSED.items())
    lines = ["| catalogue | untuned, defaults before | vs reference | untuned, new schedule | "
             "vs reference | hand-tuned config | `recsft tune` |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['catalogue']} | {_fmt(row['untuned'])} | "
                     f"{_verdict(row.get('untuned_gap'))} | {_fmt(row['proposed'])} | "
                     f"{_verdict(row.get('proposed_gap'))} | {_fmt(row['hand_tuned'])} | "
                     f"{_fmt(row['tuned'])} |")
    lines.append("")
    lines.append(f"*Defaults before*: epochs 20, eval_every 1, patience 5. *New schedule*: "
                 f"{proposed}. The reference is the `recsft tune` result where there is one, "
                 "else the hand-tuned config.")
    lines.append("Test NDCG@10, full ranking, history items filtered; mean [95 % interval: "
                 "Student t over seeds with several seeds, bootstrap over users with one]. "
                 "*Inside*: the untuned mean is at or above the lower end of the reference's "
                 "interval (the tuned result where there is one).")
    return "\n".join(lines)


def main() -> None:
    from recsft.environment import environment
    from recsft.fileio import atomic_write_text

    rows = [catalogue_row(*entry) for entry in CATALOGUES]
    record = {"metric": METRIC, "proposed": PROPOSED, "rows": rows,
              "environment": environment(),
              "command": "python scripts/defaults_study.py"}
    atomic_write_text(os.path.join(RESULTS, "defaults_study.json"),
                      json.dumps(record, indent=2, default=str) + "\n")
    table = markdown(rows)
    write_marked_block(DOC, "defaults-study", table)
    print(table)


if __name__ == "__main__":
    main()
