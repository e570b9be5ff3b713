"""Why a text-reading model loses cold targets in full ranking, measured on a cold-start run.

For a run trained with ``data.cold_items`` (items held out of training), this scores the
validation and test users with

- the model alone, the content baseline alone (:mod:`recsft.scoring.content`);
- ``log_softmax(model') + a * content + b * [item is cold]`` over a grid of content weights
  ``a``, new-item priors ``b`` (one scalar added to every held-out item's log-probability) and
  cold sharpenings ``s`` (``model'``: each cold item's logit moved to its user's mean cold
  logit plus ``s`` times its distance to it; ``s > 1`` spreads the cold items out);
- the model ranking the cold items only (every warm item removed): how well it orders the
  items it never trained on, apart from how it places them against the warm ones.

For each it reports NDCG@10 on all, warm-target and cold-target users with bootstrap intervals,
the share of the top-10 slots that go to cold items, and the mean log-probability mass the
model gives the cold items next to the share of cold targets. ``(a, b)`` is chosen on the
validation split by overall NDCG@10 and reported on the test split: a diagnostic of the
trade-off, not a tuned result.

Writes ``benchmarks/results/cold_diagnostic_<run name>.json`` with the machine and versions.

Usage:
    RECSFT_DATA_DIR=../shared/data python scripts/cold_diagnostic.py --run runs/sci-cold-text
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def segment_values(evaluator, scorer, labels, cold_rows):
    """Per-user NDCG@10 of a scorer and the cold share of its top-10 slots."""
    import numpy as np
    import torch

    top, targets = evaluator.top_k(scorer)
    _, values = evaluator.metrics_from_top(top, targets)
    ndcg = values["ndcg@10"]
    top10 = torch.as_tensor(np.asarray(top))[:, :10]
    exposure = float(cold_rows[top10.clamp_min(0)].float().mean())
    return {"all": ndcg, "warm_targets": ndcg[labels == "warm_targets"],
            "cold_targets": ndcg[labels == "cold_targets"]}, exposure


def summarise(values, exposure, n_resamples, seed=0):
    from recsft.evaluation.statistics import bootstrap_interval

    out = {name: bootstrap_interval(v, n_resamples, seed=seed) for name, v in values.items()}
    out["cold_share_of_top10"] = exposure
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a run folder trained with data.cold_items")
    parser.add_argument("--weights", type=float, nargs="+", default=[0, 3, 5, 10],
                        help="content weights a")
    parser.add_argument("--priors", type=float, nargs="+", default=[0, 0.25, 0.5, 0.75, 1],
                        help="new-item priors b")
    parser.add_argument("--scales", type=float, nargs="+", default=[1],
                        help="cold sharpening s: a cold item's logit becomes its user's mean cold "
                             "logit plus s times its distance to it")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from recsft.environment import environment
    from recsft.evaluation.segments import cold_start_labels
    from recsft.fileio import atomic_write_text
    from recsft.runs.data import content_baselines
    from recsft.runs.run import Run
    from recsft.scoring.model import model_scorer

    run = Run.open(args.run)
    cold = set(run.splits().cold_items or [])
    if not cold:
        print(f"{args.run}: the run has no cold items (train it with data.cold_items)",
              file=sys.stderr)
        return 2
    items = run.tokenizer.item_ids
    cold_rows = torch.tensor([item in cold for item in items])
    prior = cold_rows.float()
    model = model_scorer(run.model())
    baselines = content_baselines(run.config, run.tokenizer)
    if "content" not in baselines:
        print(f"{args.run}: the run's data has no item text", file=sys.stderr)
        return 2
    content = baselines["content"]

    def mixed(a, b, s=1.0):
        def score(batch):
            scores = model(batch).float()
            if s != 1:
                centre = scores.masked_fill(~cold_rows, 0).sum(1, keepdim=True) / cold_rows.sum()
                scores = torch.where(cold_rows, centre + s * (scores - centre), scores)
            scores = torch.log_softmax(scores, dim=1)
            if a:
                scores = scores + a * content(batch)
            return scores + b * prior if b else scores
        return score

    def cold_only(batch):
        scores = model(batch).float()
        return scores.masked_fill(~cold_rows, float("-inf"))

    record = {"command": "python scripts/cold_diagnostic.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "run": str(run.path), "model_sha256": run.model_sha256,
              "cold_items": len(cold), "items": len(items),
              "protocol": run.splits().protocol.to_dict() if hasattr(
                  run.splits().protocol, "to_dict") else str(run.splits().protocol),
              "environment": environment(), "splits": {}}
    for split in ("valid", "test"):
        evaluator = run.evaluator(split)
        labels = cold_start_labels(evaluator.target_items, cold)
        mass = []

        def with_mass(batch, mass=mass):
            scores = model(batch).float()
            mass.append((torch.softmax(scores, dim=1) * prior).sum(1))
            return scores

        values, exposure = segment_values(evaluator, with_mass, labels, cold_rows)
        entry = {"users": len(labels),
                 "cold_target_share": float(np.mean(labels == "cold_targets")),
                 "model_cold_mass": float(torch.cat(mass).mean()),
                 "model": summarise(values, exposure, args.n_resamples),
                 "content": summarise(*segment_values(evaluator, content, labels, cold_rows),
                                      args.n_resamples),
                 "model_cold_items_only": summarise(
                     *segment_values(evaluator, cold_only, labels, cold_rows),
                     args.n_resamples),
                 "grid": []}
        for a, b, s in ((a, b, s) for a in args.weights for b in args.priors
                        for s in args.scales):
                values, exposure = segment_values(evaluator, mixed(a, b, s), labels, cold_rows)
                entry["grid"].append({"content_weight": a, "cold_prior": b, "cold_scale": s,
                                      **summarise(values, exposure, args.n_resamples)})
                print(f"{split} a={a:g} b={b:g} s={s:g}: all {values['all'].mean():.4f} warm "
                      f"{values['warm_targets'].mean():.4f} cold "
                      f"{values['cold_targets'].mean():.4f} cold share of top-10 "
                      f"{exposure:.3f}", flush=True)
        record["splits"][split] = entry
    best = max(record["splits"]["valid"]["grid"], key=lambda g: g["all"]["mean"])
    chosen = next(g for g in record["splits"]["test"]["grid"]
                  if (g["content_weight"], g["cold_prior"], g["cold_scale"]) ==
                  (best["content_weight"], best["cold_prior"], best["cold_scale"]))
    record["chosen_on_validation"] = {"content_weight": best["content_weight"],
                                      "cold_prior": best["cold_prior"],
                                      "cold_scale": best["cold_scale"], "test": chosen}
    name = os.path.basename(os.path.normpath(args.run))
    output = args.output or os.path.join(ROOT, "benchmarks", "results",
                                         f"cold_diagnostic_{name}.json")
    atomic_write_text(output, json.dumps(record, indent=2))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
