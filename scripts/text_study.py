"""Collect the item-text study (issue 23) from the benchmark records and runs into one JSON
file and the tables of docs/text.md.

Reads what the study's trainings wrote (``scripts/benchmark_quality.py`` records
``benchmarks/results/quality_<name>.json`` and their run folders' ``metrics.json``); rows whose
record does not exist yet are listed as missing, never invented. Writes
``benchmarks/results/text_study.json`` and replaces the block between
``<!-- text-study:start -->`` and ``<!-- text-study:end -->`` in docs/text.md.

The trainings (RECSFT_DATA_DIR=../shared/data; each line one ``benchmark_quality.py`` call):

    SCI=configs/sasrec-scientific-text.yaml  ML=configs/sasrec-ml100k-text.yaml
    --config $SCI --seeds 42 43 44                                     # id+text (sum)
    --config configs/sasrec-scientific.yaml --set evaluation.ks=[5,10,20,50] --seeds 42 43 44
    --config configs/sasrec-scientific-textonly.yaml --seeds 42 43 44  # text only, cosine
    --config $SCI --set name=sci-fuse-gate --set model.text_fusion=gate   # and concat
    --config configs/sasrec-scientific-lm.yaml --set name=sci-lm-random
    --config configs/sasrec-scientific-lm.yaml --set name=sci-lm-init \
        --set training.init_from=<the MiniLM folder>
    --config $SCI --set name=sci-cold-idtext --set data.cold_items=0.1     # and text, id
    --config $ML --seeds 42; --set name=ml-text --set model.item_representation=text \
        --set model.similarity=cosine --set training.epochs=40 --set training.eval_every=5
    --config $ML --set name=ml-cold-idtext --set data.cold_items=0.1       # and text, id
    transfer: see TRANSFER below (training.init_from, training.epochs=0, data.train_users)

Usage:
    python scripts/text_study.py
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
DOC = os.path.join(ROOT, "docs", "text.md")
METRICS = ("ndcg@10", "recall@10", "ndcg@50", "recall@50")

#: (label, quality record name) per dataset.
QUALITY = {
    "amazon-scientific": [
        ("SASRec, id", "sasrec-scientific"),
        ("SASRec, text (cosine)", "sasrec-scientific-textonly"),
        ("SASRec, id+text (sum)", "sasrec-scientific-text"),
        ("SASRec, id+text (gate)", "sci-fuse-gate"),
        ("SASRec 384-wide, id+text, random init", "sci-lm-random"),
        ("SASRec 384-wide, id+text, MiniLM layers", "sci-lm-init"),
        ("SASRec 384-wide, text (cosine)", "sci-wide-text-cos"),
        ("SASRec, text (cosine) + item transitions",
         "sasrec-scientific-textonly-transitions-nocontent"),
        ("SASRec, text (cosine) + item transitions + text similarity",
         "sasrec-scientific-textonly-transitions"),
        ("SASRec, id + item transitions + text similarity", "sasrec-scientific-transitions"),
    ],
    "ml-100k": [
        ("SASRec, id", "sasrec-ml100k"),
        ("SASRec, text (cosine)", "ml-text"),
        ("SASRec, id+text (sum)", "sasrec-ml100k-text"),
    ],
}
#: Published figures on the same files and protocol.
ANCHORS = {"amazon-scientific": ("VQ-Rec (Hou et al., WWW 2023)",
                                 {"ndcg@10": 0.0643, "recall@10": 0.1211,
                                  "ndcg@50": 0.0897, "recall@50": 0.2369})}
#: Cold-start runs (data.cold_items 0.1) per dataset: (label, quality record name).
COLD = {
    "amazon-scientific": [("text (cosine)", "sci-cold-text"), ("id+text", "sci-cold-idtext"),
                          ("id+text, id_dropout 0.2", "sci-cold-idtext-iddrop"),
                          ("id+text, cosine, id_dropout 0.5", "sci-cold-idtext-cos-iddrop5")],
    "ml-100k": [("text (cosine)", "ml-cold-text"), ("id+text", "ml-cold-idtext")],
}
#: Transfer: (source → target, setting, quality record name). Text-only models throughout.
TRANSFER = [
    ("amazon-scientific → ml-100k", "zero-shot", "ml-from-sci-zeroshot"),
    ("amazon-scientific → ml-100k", "scratch, 100 % users", "ml-text"),
    ("amazon-scientific → ml-100k", "fine-tuned, 10 % users", "ml-from-sci-finetune-10pct"),
    ("amazon-scientific → ml-100k", "scratch, 10 % users", "ml-scratch-10pct"),
    ("amazon-scientific → ml-100k", "fine-tuned, 100 % users", "ml-from-sci-finetune"),
    ("movielens-1m-half → ml-100k", "zero-shot", "ml-from-ml1m-zeroshot"),
    ("movielens-1m-half → ml-100k", "scratch, 100 % users", "ml-text"),
    ("movielens-1m-half → ml-100k", "fine-tuned, 10 % users", "ml-from-ml1m-finetune-10pct"),
    ("movielens-1m-half → ml-100k", "scratch, 10 % users", "ml-scratch-10pct"),
    ("movielens-1m-half → ml-100k", "fine-tuned, 100 % users", "ml-from-ml1m-finetune"),
    ("ml-100k → amazon-scientific", "zero-shot", "sci-from-ml-zeroshot"),
    ("ml-100k → amazon-scientific", "scratch, 100 % users", "sasrec-scientific-textonly"),
    ("ml-100k → amazon-scientific", "fine-tuned, 10 % users", "sci-from-ml-finetune-10pct"),
    ("ml-100k → amazon-scientific", "scratch, 10 % users", "sci-scratch-10pct"),
]


def _record(name: str) -> dict[str, Any] | None:
    path = os.path.join(RESULTS, f"quality_{name}.json")
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def _interval(summary: dict[str, Any], metric: str) -> dict[str, Any]:
    """Mean with the seeds' t-interval (several seeds) or the users' bootstrap (one seed)."""
    entry = summary[metric]
    seeds = entry.get("seeds")
    if seeds and seeds.get("n", 0) > 1:
        return {"mean": entry["mean"], "low": seeds["ci95_low"], "high": seeds["ci95_high"],
                "interval": f"seeds (t, n={seeds['n']})"}
    users = entry["users"]
    return {"mean": entry["mean"], "low": users["ci95_low"], "high": users["ci95_high"],
            "interval": "users (bootstrap)"}


def quality_row(label: str, name: str) -> dict[str, Any]:
    record = _record(name)
    if record is None:
        return {"label": label, "record": name, "missing": True}
    seeds = record["seeds"]
    training = [s.get("training") or {} for s in seeds]
    return {
        "label": label, "record": name, "seeds": [s["seed"] for s in seeds],
        "metrics": {m: _interval(record["summary"], m) for m in METRICS
                    if m in record["summary"]},
        "users_interval": {m: record["summary"][m]["users"] for m in METRICS
                           if m in record["summary"]},
        "train_seconds": [t.get("train_seconds") for t in training],
        "best_epoch": [t.get("best_epoch") for t in training],
        "init_from": training[0].get("init_from"),
        "most_popular": (record.get("baselines") or {}).get("most_popular"),
        "dataset": record.get("dataset"), "protocol": record.get("protocol"),
        "representation": (record.get("config") or {}).get("model", {}).get(
            "item_representation", "id"),
        "train_users": (record.get("config") or {}).get("data", {}).get("train_users", 1.0),
    }


#: The cold-start text runs scored by their scoring mixture (``recsft transitions`` then
#: ``recsft evaluate --transitions --output benchmarks/results/cold_mixture_<run>.json``).
COLD_MIXTURE = {"amazon-scientific": "sci-cold-text", "ml-100k": "ml-cold-text"}


def cold_mixture_row(name: str) -> dict[str, Any] | None:
    path = os.path.join(RESULTS, f"cold_mixture_{name}.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        record = json.load(handle)
    settings = record["transitions"]
    label = (f"text (cosine) + scoring mixture (transitions w {settings['weight']:g}, text "
             f"term c {settings['content_weight']:g}, new-item prior b "
             f"{settings['new_item_prior']:g})")
    return {"label": label, "record": os.path.basename(path),
            "protocol": record["cold_start"]["protocol"], "model": record["cold_start"]["model"],
            "baselines": record["cold_start"]["baselines"], "transitions": settings}


def cold_row(label: str, name: str) -> dict[str, Any]:
    record = _record(name)
    if record is None:
        return {"label": label, "record": name, "missing": True}
    with open(os.path.join(record["seeds"][0]["run_dir"], "metrics.json")) as handle:
        cold = json.load(handle)["cold_start"]
    return {"label": label, "record": name, "protocol": cold["protocol"],
            "model": cold["model"], "baselines": cold["baselines"]}


def _fmt(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "—"
    return f"{cell['mean']:.4f} [{cell['low']:.4f}, {cell['high']:.4f}]"


def _segment(segment: dict[str, Any], metric: str = "ndcg@10") -> str:
    value = segment[metric]
    return f"{value['mean']:.4f} [{value['ci95_low']:.4f}, {value['ci95_high']:.4f}]"


def markdown(study: dict[str, Any]) -> str:
    lines: list[str] = []
    for dataset, rows in study["quality"].items():
        lines += [f"**{dataset}** (test; mean [95 % interval: over seeds where there are 3, "
                  "else over users])", "",
                  "| model | seeds | NDCG@10 | Recall@10 | NDCG@50 | Recall@50 | s/run |",
                  "|---|---|---|---|---|---|---|"]
        for row in rows:
            if row.get("missing"):
                lines.append(f"| {row['label']} | not run | | | | | |")
                continue
            seconds = [s for s in row["train_seconds"] if s]
            time = f"{sum(seconds) / len(seconds):.0f}" if seconds else ""
            cells = " | ".join(_fmt(row["metrics"].get(m)) for m in METRICS)
            lines.append(f"| {row['label']} | {len(row['seeds'])} | {cells} | {time} |")
        anchor = ANCHORS.get(dataset)
        if anchor:
            values = " | ".join(f"{anchor[1][m]:.4f}" for m in METRICS)
            lines.append(f"| {anchor[0]}, published | | {values} | |")
        lines.append("")
    lines += ["**Cold start** (`data.cold_items: 0.1`, seed 42; test NDCG@10 with the users' "
              "bootstrap interval)", "",
              "| dataset | model / baseline | warm targets | cold targets |", "|---|---|---|---|"]
    for dataset, rows in study["cold"].items():
        baselines_done = False
        for row in rows:
            if row.get("missing"):
                lines.append(f"| {dataset} | SASRec {row['label']} | not run | |")
                continue
            model = row["model"]
            lines.append(f"| {dataset} | SASRec, {row['label']} | "
                         f"{_segment(model['warm_targets'])} | "
                         f"{_segment(model['cold_targets'])} |")
            if not baselines_done:
                for name, segments in row["baselines"].items():
                    lines.append(f"| {dataset} | {name} | {_segment(segments['warm_targets'])} "
                                 f"| {_segment(segments['cold_targets'])} |")
                baselines_done = True
    lines += ["", "**Transfer** (text-only SASRec; test NDCG@10 / Recall@10 with the users' "
              "bootstrap interval)", "",
              "| source → target | setting | NDCG@10 | Recall@10 | s/run |",
              "|---|---|---|---|---|"]
    for row in study["transfer"]:
        if row.get("missing"):
            lines.append(f"| {row['pair']} | {row['setting']} | not run | | |")
            continue
        seconds = [s for s in row["train_seconds"] if s]
        time = f"{seconds[0]:.0f}" if seconds else "0"
        users = row["users_interval"]
        cells = " | ".join(f"{users[m]['mean']:.4f} [{users[m]['ci95_low']:.4f}, "
                           f"{users[m]['ci95_high']:.4f}]" for m in ("ndcg@10", "recall@10"))
        lines.append(f"| {row['pair']} | {row['setting']} | {cells} | {time} |")
    return "\n".join(lines)


def main() -> None:
    from recsft.fileio import atomic_write_text

    study = {
        "quality": {dataset: [quality_row(*row) for row in rows]
                    for dataset, rows in QUALITY.items()},
        "anchors": ANCHORS,
        "cold": {dataset: [cold_row(*row) for row in rows] + [
                     row for row in [cold_mixture_row(COLD_MIXTURE[dataset])] if row]
                 for dataset, rows in COLD.items()},
        "transfer": [{"pair": pair, "setting": setting, **quality_row(setting, name)}
                     for pair, setting, name in TRANSFER],
    }
    atomic_write_text(os.path.join(RESULTS, "text_study.json"),
                      json.dumps(study, indent=2, default=str))
    table = markdown(study)
    write_marked_block(DOC, "text-study", table)
    print(table)


def write_marked_block(doc: str, name: str, text: str) -> None:
    """Replace what lies between ``<!-- name:start -->`` and ``<!-- name:end -->`` in the
    Markdown file ``doc`` with ``text`` (written through a temporary file; nothing is written
    when the markers are absent)."""
    from recsft.fileio import atomic_write_text

    with open(doc, encoding="utf-8") as handle:
        page = handle.read()
    block = f"<!-- {name}:start -->\n{text}\n<!-- {name}:end -->"
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
    if pattern.search(page):
        atomic_write_text(doc, pattern.sub(lambda _: block, page))


if __name__ == "__main__":
    main()
