"""Personalised search benchmark (issue 25): the two-stage search against its baselines.

Writes ``benchmarks/results/search_<dataset>.json``: machine and versions, config, protocol,
counts, full-ranking metrics on the TEST searches (NDCG@10, Recall@10, MRR with bootstrap
intervals) of BM25 alone, dense alone, the behaviour model alone, HEM-style and the
two-stage search (LightGBM lambdarank and linear fusion; the one reported as "two-stage" is
picked on VALID by NDCG@10), the candidate protocol (every system ranked within the
two-stage first-stage candidates) with the first stage's candidate recall@100, paired tests
of the two-stage search against each baseline (Holm over baselines x metrics), and the
latency per query of ``TwoStageScorer.search`` from Python.

No leakage into the behaviour model:

- ``synthetic``: the shop's log with searches; the behaviour SASRec is trained on each
  user's non-search events strictly before that user's VALID search (users without a valid
  search: all their events), so no valid/test search, nor anything after the valid search,
  is seen.
- ``scientific``: the product-search construction's valid/test searches are each user's last
  two purchases, which recsft's leave-one-out holds out of training; the script counts the
  users for whom this alignment fails (``leakage.misaligned_users``) against the behaviour
  run's own event file.

Stacking bias: the behaviour model has trained on the TRAIN searches' targets, so its scores
on train searches are optimistic. By default (``--reranker-data valid-half``) the re-ranker
is therefore fitted on half of the users' VALID searches and early-stopped / tuned on the
other half (both unseen by the behaviour model); ``--reranker-data train`` fits on the train
searches (stopped on valid) and records the bias.

Example:
    python scripts/benchmark_search.py --dataset synthetic --epochs 10
    python scripts/benchmark_search.py --dataset scientific \
        --behaviour-run runs/sasrec-scientific-seed42
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

METRICS = ("ndcg@10", "recall@10", "mrr")


# ---------------------------------------------------------------------------- helpers


def subset(events: Any, rows: Sequence[int], splits: Sequence[str] | None = None) -> Any:
    """The search events ``rows`` (in that order), optionally with new split labels."""
    import dataclasses

    taken = events.take(rows)
    return taken if splits is None else dataclasses.replace(taken, splits=list(splits))


def _hash_half(user: str) -> bool:
    return int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) % 2 == 0


def limit_events(events: Any, users: int | None, max_events: int | None, seed: int) -> Any:
    """A seeded sample of ``users`` users, then at most ``max_events`` searches per split."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(events))
    if users is not None:
        everyone = sorted(set(events.user_ids))
        if users < len(everyone):
            keep = set(rng.choice(everyone, size=users, replace=False).tolist())
            rows = np.array([r for r in rows if events.user_ids[r] in keep], dtype=np.int64)
    if max_events is not None:
        picked = []
        for split in ("train", "valid", "test"):
            mine = np.array([r for r in rows if events.splits[r] == split], dtype=np.int64)
            if len(mine) > max_events:
                mine = np.sort(rng.choice(mine, size=max_events, replace=False))
            picked.append(mine)
        rows = np.sort(np.concatenate(picked))
    return subset(events, rows.tolist())


def reranker_events(events: Any, mode: str) -> tuple[Any, str]:
    """The events the re-ranker is fitted on (splits train/valid) and how they were made."""
    if mode == "train":
        return events, ("fitted on the TRAIN searches, early-stopped on VALID; the behaviour "
                        "model trained on the train searches' targets, so its feature is "
                        "optimistic on the fitting data (stacking bias, not mitigated)")
    rows = [i for i, s in enumerate(events.splits) if s in ("valid", "test")]
    splits = [("train" if _hash_half(events.user_ids[i]) else "valid")
              if events.splits[i] == "valid" else "test" for i in rows]
    return subset(events, rows, splits), (
        "fitted on the VALID searches of half of the users (by a hash of the user id) and "
        "early-stopped / tuned on the other half's; the behaviour model never trained on a "
        "valid search's targets, so the re-ranker sees its scores as they are at test time "
        "(stacking bias avoided); train searches are not used by the re-ranker")


def percentiles_ms(values: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / mean / max of durations given in seconds, in milliseconds."""
    array = np.asarray(values, dtype=np.float64) * 1000.0
    return {"count": int(array.size), "p50": float(np.percentile(array, 50)),
            "p90": float(np.percentile(array, 90)), "p99": float(np.percentile(array, 99)),
            "mean": float(array.mean()), "max": float(array.max())}


def _slim(result: dict[str, Any]) -> dict[str, Any]:
    """An evaluation result without its per-event lists."""
    out = {k: v for k, v in result.items() if k != "per_event"}
    if "candidate_recall" in out:
        out["candidate_recall"] = {k: v for k, v in out["candidate_recall"].items()
                                   if k != "per_event"}
    return out


def _comparison_summary(compared: dict[str, Any]) -> dict[str, Any]:
    keep = ("mean_a", "mean_b", "difference", "ci95_low", "ci95_high", "t_test_p",
            "wilcoxon_p", "permutation_p", "t_test_p_holm", "wilcoxon_p_holm",
            "permutation_p_holm")
    out = {k: v for k, v in compared.items() if k != "comparisons"}
    out["comparisons"] = {name: {metric: {k: v for k, v in values.items() if k in keep}
                                 for metric, values in metrics.items()}
                          for name, metrics in compared["comparisons"].items()}
    return out


# ---------------------------------------------------------------------------- datasets


def synthetic_data(args: argparse.Namespace) -> dict[str, Any]:
    """The synthetic shop's searches, texts and the leakage-free behaviour training events."""
    from recsft.data.events import EventLog
    from recsft.data.synthetic import SyntheticConfig, generate_events
    from recsft.search.events import search_events

    config = SyntheticConfig(num_users=args.users or SyntheticConfig.num_users,
                             num_items=args.items, search_rate=args.search_rate,
                             seed=args.seed)
    data = generate_events(config)
    frame = data.events
    events = search_events(EventLog(frame.reset_index(drop=True), source="synthetic shop"))
    events = limit_events(events, None, args.max_events, args.seed)
    valid_time = {events.user_ids[i]: int(events.timestamps[i])
                  for i, s in enumerate(events.splits) if s == "valid"}
    behaviour = frame[frame["query"].isna()]
    cut = behaviour["user_id"].map(valid_time)
    behaviour = behaviour[cut.isna() | (behaviour["timestamp"] < cut)]
    behaviour = behaviour[["user_id", "item_id", "timestamp", "event_type"]].reset_index(
        drop=True)
    texts = dict(zip(data.items["item_id"].astype(str), data.items["title"].astype(str)))
    return {"events": events, "texts": texts, "behaviour_frame": behaviour,
            "data_config": {"generator": "recsft.data.synthetic.generate_events",
                            "num_users": config.num_users, "num_items": config.num_items,
                            "search_rate": config.search_rate, "seed": config.seed,
                            "item_text": "title"},
            "leakage": {
                "method": "behaviour model trained on each user's non-search events strictly "
                          "before that user's VALID search (users without one: all events); "
                          "nothing at or after a valid search is seen",
                "behaviour_events": int(len(behaviour)),
                "log_events": int(len(frame)),
                "users_cut": len(valid_time)}}


def scientific_data(args: argparse.Namespace) -> dict[str, Any]:
    """The Scientific product-search construction and its item texts."""
    from recsft.data.registry import locate_item_table
    from recsft.search.constructions import scientific_product_search
    from recsft.text.items import read_item_table

    events = scientific_product_search(args.data_path)
    events = limit_events(events, args.users, args.max_events, args.seed)
    table = read_item_table(locate_item_table("amazon-scientific", args.data_path))
    texts = dict(zip(table["item_id"].astype(str), table["text"].fillna("").astype(str)))
    return {"events": events, "texts": texts, "behaviour_frame": None,
            "data_config": {"construction": "recsft.search.constructions."
                                            "scientific_product_search",
                            "item_table": events.metadata.get("item_table"),
                            "item_text": "Scientific.text (title. categories. brand.)"}}


def check_alignment(events: Any, run_dir: Path) -> dict[str, Any]:
    """Whether each user's valid / test search targets are the user's last two events in the
    behaviour run's own events (what leave-one-out holds out of training)."""
    import pandas as pd

    from recsft.data.events import EventLog

    frame = pd.read_parquet(run_dir / "data" / "events.parquet")
    sequences = EventLog(frame, source=str(run_dir)).sequences()
    last = {str(u): [str(i) for i in seq[-2:]] if len(seq) >= 3 else None
            for u, seq in zip(sequences.user_ids, sequences.items)}
    checked = misaligned = 0
    leaked_rows = []
    for row, split in enumerate(events.splits):
        if split not in ("valid", "test"):
            continue
        checked += 1
        tail = last.get(events.user_ids[row])
        want = None if tail is None else tail[0 if split == "valid" else 1]
        if want is None or events.targets[row] != [want]:
            misaligned += 1
            leaked_rows.append(row)
    return {"method": "recsft leave-one-out of the behaviour run holds out each user's last "
                      "two events (valid, test); the construction's valid/test searches are "
                      "the last two purchases; checked against the run's data/events.parquet",
            "checked_searches": checked, "misaligned_searches": misaligned,
            "misaligned_users": len({events.user_ids[r] for r in leaked_rows}),
            "misaligned_rows": leaked_rows}


def train_behaviour(args: argparse.Namespace, data: dict[str, Any], runs: Path) -> Path:
    """Train the short behaviour SASRec and return its run folder."""
    import recsft

    name = f"search-{args.dataset}-behaviour"
    overrides = [f"name={name}", f"output_dir={runs}", "model.model_type=sasrec",
                 f"training.epochs={args.epochs}", f"training.eval_every={args.epochs}",
                 f"training.seed={args.seed}"]
    if args.dataset == "synthetic":
        trained = recsft.train(str(ROOT / "configs" / "demo.yaml"),
                               data=data["behaviour_frame"], overrides=overrides,
                               overwrite=True)
    else:
        overrides.append(f"data.source={args.data_path or 'amazon-scientific'}")
        trained = recsft.train(str(ROOT / "configs" / "sasrec-scientific.yaml"),
                               overrides=overrides, overwrite=True)
    return Path(trained.run_dir)


# ---------------------------------------------------------------------------- the benchmark


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything of one dataset; returns the JSON record."""
    from recsft.environment import environment
    from recsft.retrieval.recommender import Recommender
    from recsft.search.bm25 import BM25Retriever
    from recsft.search.evaluate import compare_scorers, evaluate_candidates, evaluate_search
    from recsft.search.features import RecommenderBehaviour, SearchSignals, TextSpace
    from recsft.search.scoring import BehaviourScorer, BM25Scorer, DenseScorer, HEMScorer
    from recsft.search.two_stage import TwoStageScorer
    from recsft.text.encoder import TextEncoder

    clock: dict[str, float] = {}
    start = time.perf_counter()
    data = synthetic_data(args) if args.dataset == "synthetic" else scientific_data(args)
    events, texts = data["events"], data["texts"]
    clock["data_s"] = time.perf_counter() - start

    t = time.perf_counter()
    if args.behaviour_run:
        run_dir = Path(args.behaviour_run)
        behaviour_origin = f"given run {run_dir}"
    else:
        run_dir = train_behaviour(args, data, Path(args.runs_dir))
        behaviour_origin = f"trained here ({args.epochs} epochs)"
    clock["behaviour_model_s"] = time.perf_counter() - t
    leakage = data.get("leakage") or {}
    if args.dataset == "scientific":
        leakage = check_alignment(events, run_dir)
        dropped = set(leakage.pop("misaligned_rows"))
        if dropped and not args.keep_misaligned:
            # Their target may be in the behaviour model's training data: left out of the
            # evaluation (and of the re-ranker's valid searches).
            events = events.take([r for r in range(len(events)) if r not in dropped])
            data["events"] = events
        leakage["misaligned_searches_evaluated"] = bool(args.keep_misaligned)
    recommender = Recommender.from_pretrained(run_dir)

    catalogue = [i for i in texts if texts[i].strip()]
    texts = {i: texts[i] for i in catalogue}
    encoder = TextEncoder(args.encoder) if args.encoder else TextEncoder()
    cache = args.text_cache
    popularity = {} if recommender.popularity is None else \
        {i: recommender.popularity.count(i) for i in catalogue}

    t = time.perf_counter()
    bm25 = BM25Retriever(texts)
    signals = SearchSignals(catalogue, bm25=bm25,
                            text=TextSpace.from_texts(texts, catalogue, encoder, cache),
                            behaviour=RecommenderBehaviour(recommender, catalogue),
                            popularity=popularity)
    baselines = [BM25Scorer(bm25), DenseScorer(texts, encoder, cache),
                 BehaviourScorer(recommender, catalogue), HEMScorer(texts, encoder, cache)]
    clock["indexes_s"] = time.perf_counter() - t

    t = time.perf_counter()
    fit_events, fit_note = reranker_events(events, args.reranker_data)
    top_n = args.top_n
    two_stage = {kind: TwoStageScorer.fit(signals, fit_events, kind=kind, top_n=top_n)
                 for kind in ("lightgbm", "linear")}
    clock["rerankers_s"] = time.perf_counter() - t

    t = time.perf_counter()
    ev = {"ks": (10,), "n_resamples": args.resamples, "seed": args.seed}
    # Picked on the searches the re-ranker was stopped on, never on those it was fitted on.
    valid = {kind: evaluate_search(scorer, fit_events, "valid", **ev)["metrics"]
             for kind, scorer in two_stage.items()}
    chosen = max(two_stage, key=lambda kind: valid[kind]["ndcg@10"]["mean"])
    full = {s.name: evaluate_search(s, events, "test", **ev) for s in baselines}
    for scorer in two_stage.values():
        full[scorer.name] = evaluate_search(scorer, events, "test", **ev)
    clock["full_ranking_s"] = time.perf_counter() - t

    t = time.perf_counter()
    reference = two_stage[chosen]
    test_rows = [i for i, s in enumerate(events.splits) if s == "test"]
    lists = [[c.item_id for c in union] for union in reference.candidates(events, test_rows)]
    union_recall = [sum(x in set(lst) for x in events.targets[r]) / len(events.targets[r])
                    for lst, r in zip(lists, test_rows)]
    candidates = {s.name: evaluate_candidates(lists, events, "test", scorer=s, **ev)
                  for s in [*baselines, *two_stage.values()]}
    candidates["first-stage order"] = evaluate_candidates(lists, events, "test",
                                                          name="first-stage order", **ev)
    clock["candidate_protocol_s"] = time.perf_counter() - t

    others = [name for name in full if not name.startswith("two-stage")]
    paired = {}
    for label, results in (("full", full), ("candidates", candidates)):
        family = {name: results[name] for name in others}
        family[reference.name] = results[reference.name]
        paired[label] = _comparison_summary(compare_scorers(
            family, reference.name, list(METRICS), n_resamples=args.resamples,
            n_permutations=args.permutations, seed=args.seed))

    t = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    timed = rng.choice(test_rows, size=min(args.latency_queries, len(test_rows)),
                       replace=False)
    reference.search(events.queries[int(timed[0])], events.histories[int(timed[0])], k=10)
    durations = []
    for row in timed:
        row = int(row)
        begin = time.perf_counter()
        reference.search(events.queries[row], events.histories[row], k=10,
                         event_types=events.history_event_types[row])
        durations.append(time.perf_counter() - begin)
    clock["latency_s"] = time.perf_counter() - t
    clock["total_s"] = time.perf_counter() - start

    return {
        "benchmark": "personalised search (issue 25)",
        "dataset": args.dataset,
        "environment": environment(),
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "config": {k: v for k, v in vars(args).items() if k != "output"},
        "data": data["data_config"],
        "counts": {"catalogue_items": len(catalogue), "searches": len(events),
                   "per_split": events.counts(),
                   "reranker_fit": fit_events.counts(),
                   "event_metadata": {k: v for k, v in events.metadata.items()
                                      if isinstance(v, (int, float, str, type(None)))}},
        "behaviour_model": {"run": str(run_dir), "origin": behaviour_origin,
                            "model_type": getattr(recommender.model.config, "model_type",
                                                  None),
                            "items_known": int(sum(i in set(recommender.tokenizer.item_ids)
                                                   for i in catalogue))},
        "leakage": leakage,
        "stacking_bias": {"reranker_data": args.reranker_data, "note": fit_note},
        "protocol": {
            "full_ranking": full[reference.name]["protocol"],
            "candidates": candidates[reference.name]["protocol"],
            "first_stage": {"top_n_per_source": reference.top_n,
                            "union": "BM25, dense and behaviour top-n lists merged "
                                     "(union_candidates)"},
            "selection": "the two-stage re-ranker kind reported as the reference is picked "
                         "by full-ranking NDCG@10 on the re-ranker's own VALID (stopping) "
                         "searches; both kinds are reported",
            "tests": "compare_scorers: paired t / Wilcoxon / permutation tests of the chosen "
                     "two-stage against each baseline, Holm over baselines x metrics",
            "history_filter": "none (a search target may be a re-purchase)"},
        "valid": {"two-stage-" + kind: metrics for kind, metrics in valid.items()},
        "chosen": reference.name,
        "test_full_ranking": {name: _slim(result)["metrics"] for name, result in full.items()},
        "test_candidates": {name: _slim(result)["metrics"]
                            for name, result in candidates.items()},
        "candidate_recall": {
            "recall@100_first_100_of_union":
                candidates[reference.name]["candidate_recall"]["metrics"],
            "recall_whole_union": float(np.mean(union_recall)),
            "mean_candidates": candidates[reference.name]["protocol"]["mean_candidates"]},
        "paired_tests": paired,
        "reranker_info": {name: {k: v for k, v in scorer.reranker.info.items()
                                 if isinstance(v, (int, float, str, list, dict))}
                          for name, scorer in ((s.name, s) for s in two_stage.values())},
        "latency_ms": {"what": "TwoStageScorer.search(query, history, k=10) from Python, one "
                               "query at a time, all signals recomputed per query",
                       **percentiles_ms(durations)},
        "seconds": clock,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("synthetic", "scientific"), default="synthetic")
    parser.add_argument("--users", type=int, default=None,
                        help="synthetic: users generated (default 3000); scientific: a "
                             "seeded sample of users")
    parser.add_argument("--items", type=int, default=1000, help="synthetic: catalogue size")
    parser.add_argument("--search-rate", type=float, default=0.5,
                        help="synthetic: share of sessions that begin with a search")
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs of the behaviour SASRec trained here")
    parser.add_argument("--max-events", type=int, default=None,
                        help="at most this many search events per split (seeded sample)")
    parser.add_argument("--keep-misaligned", action="store_true",
                        help="scientific: also evaluate the valid/test searches whose target is "
                        "not what the behaviour run held out (left out by default)")
    parser.add_argument("--behaviour-run", default=None,
                        help="reuse this run folder as the behaviour model instead of training")
    parser.add_argument("--reranker-data", choices=("valid-half", "train"),
                        default="valid-half")
    parser.add_argument("--top-n", type=int, default=100, help="first-stage list per source")
    parser.add_argument("--data-path", default=None,
                        help="scientific: the dataset folder (default: $RECSFT_DATA_DIR)")
    parser.add_argument("--encoder", default=None,
                        help="text-encoder checkpoint folder (default: MiniLM)")
    parser.add_argument("--text-cache", default=None, help="text-vector cache folder")
    parser.add_argument("--runs-dir", default=None,
                        help="where the behaviour run is trained (default: a temporary folder)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=10000)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None,
                        help="default benchmarks/results/search_<dataset>.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from recsft.errors import RecsftError
    from recsft.fileio import atomic_write_text

    args = parse_args(argv)
    output = Path(args.output or ROOT / "benchmarks" / "results" /
                  f"search_{args.dataset}.json")
    try:
        if args.runs_dir is None and not args.behaviour_run:
            with tempfile.TemporaryDirectory(prefix="recsft-search-") as folder:
                args.runs_dir = folder
                record = run(args)
                args.runs_dir = None
                record["config"]["runs_dir"] = None
        else:
            record = run(args)
    except RecsftError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    atomic_write_text(output, json.dumps(record, indent=2, default=str) + "\n")
    chosen = record["chosen"]
    for name, metrics in record["test_full_ranking"].items():
        mark = " *" if name == chosen else ""
        print(f"{name:20s} " + "  ".join(f"{m} {metrics[m]['mean']:.4f}" for m in METRICS)
              + mark)
    print(f"latency p50 {record['latency_ms']['p50']:.1f} ms, p99 "
          f"{record['latency_ms']['p99']:.1f} ms; wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
