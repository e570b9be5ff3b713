"""FAISS index kinds against exact search, and end-to-end ``recommend`` latency.

Three parts, each in a child process that reports its own peak resident memory:

* ``synthetic``: for every catalogue size in ``--sizes`` and dimension in ``--dims``, item and
  query vectors are drawn from a mixture of 512 Gaussian clusters with log-normal norms (trained
  item embeddings are clustered and their norms vary with popularity; isotropic noise would be
  a harder and less realistic case). Every kind in ``--kinds`` at its default parameters is
  measured against exact search (``flat``): recall@10 over ``--queries`` queries, build time
  (training included), index size (FAISS serialisation), single-query latency p50/p99 through
  ``ItemIndex.search`` (Python included, one query at a time) and batch throughput (all queries
  in one call). Exact search is also checked against a NumPy float64 brute force.
* ``real``: the same kinds on a trained run's item embeddings, queried with the run's test-user
  vectors (default: SASRec on Amazon Beauty, 54,542 items).
* ``recommend``: ``Recommender.recommend`` for one 50-event history (tokenise, encode with the
  model, exact search excluding the history) on ``--e2e-items`` items; an untrained SASRec of
  the demo size (hidden 64, 2 layers, 50 positions): latency does not depend on the weights.

Writes ``benchmarks/results/retrieval.json`` with the machine, versions and settings (parts and
catalogue sizes not run keep the figures of an earlier run).

Usage:
    python scripts/benchmark_retrieval.py                     # everything (about 40 min, 2 cores)
    python scripts/benchmark_retrieval.py --parts recommend   # only the end-to-end latency
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 10


def peak_rss_gib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    import numpy as np

    values = np.array(seconds) * 1000.0
    return {"p50_ms": round(float(np.percentile(values, 50)), 3),
            "p99_ms": round(float(np.percentile(values, 99)), 3),
            "mean_ms": round(float(values.mean()), 3)}


def clustered_vectors(n: int, dim: int, n_queries: int, seed: int):
    """Items ``(n, dim)`` and queries ``(n_queries, dim)`` from one cluster mixture."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((512, dim)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        out = np.empty((count, dim), dtype=np.float32)
        for start in range(0, count, 100_000):
            stop = min(count, start + 100_000)
            block = centers[rng.integers(0, 512, stop - start)]
            block += 0.7 * rng.standard_normal((stop - start, dim), dtype=np.float32)
            block *= rng.lognormal(0.0, 0.3, (stop - start, 1)).astype(np.float32)
            out[start:stop] = block / np.sqrt(dim)
        return out

    return draw(n), draw(n_queries)


def recall_at_k(approx, exact) -> float:
    import numpy as np

    return round(float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)])), 4)


def measure_kind(kind: str, items, ids, queries, exact_ids, single: int) -> dict:
    import faiss
    import numpy as np

    from recsft.retrieval.index import ItemIndex

    start = time.perf_counter()
    index = ItemIndex(items, ids, kind=kind)
    build = time.perf_counter() - start
    size = int(faiss.serialize_index(index._index).nbytes)
    _, got = index.search(queries, K)
    for q in queries[:20]:  # warm-up
        index.search(q, K)
    latencies = []
    for q in queries[:single]:
        start = time.perf_counter()
        index.search(q, K)
        latencies.append(time.perf_counter() - start)
    batch = []
    for _ in range(3):
        start = time.perf_counter()
        index.search(queries, K)
        batch.append(time.perf_counter() - start)
    return {
        "kind": kind,
        "params": index.params,
        "recall@10": 1.0 if exact_ids is None else recall_at_k(got, exact_ids),
        "build_seconds": round(build, 2),
        "index_mib": round(size / 2**20, 1),
        "single_query": {**percentiles_ms(latencies), "queries": len(latencies)},
        "batch_queries_per_second": round(len(queries) / float(np.median(batch)), 1),
        "_ids": got,
    }


def synthetic_case(n: int, dim: int, kinds: list[str], n_queries: int, single: int,
                   seed: int) -> dict:
    import faiss
    import numpy as np

    start = time.perf_counter()
    items, queries = clustered_vectors(n, dim, n_queries, seed)
    ids = [f"i{i}" for i in range(n)]
    generated = time.perf_counter() - start
    rows = []
    exact = measure_kind("flat", items, ids, queries, None, single)
    exact_ids = exact.pop("_ids")
    # Exact search equals a NumPy float64 brute force (ties aside: none in continuous data).
    check = queries[:100].astype(np.float64) @ items.astype(np.float64).T
    reference = np.array(ids)[np.argsort(-check, axis=1)[:, :K]]
    exact["equals_numpy_brute_force"] = bool(reference.tolist() == exact_ids[:100].tolist())
    rows.append(exact)
    for kind in kinds:
        if kind == "flat":
            continue
        row = measure_kind(kind, items, ids, queries, exact_ids, single)
        row.pop("_ids")
        rows.append(row)
        print(json.dumps({"items": n, "dim": dim, **row}), file=sys.stderr, flush=True)
    return {"items": n, "dim": dim, "queries": n_queries, "generate_seconds": round(generated, 1),
            "omp_threads": faiss.omp_get_max_threads(), "kinds": rows,
            "peak_rss_gib": peak_rss_gib()}


def real_case(run_dir: str, kinds: list[str], single: int) -> dict:
    import numpy as np
    import torch

    from recsft.runs import Run
    from recsft.tokenization import BehaviorTokenizer

    run = Run.open(run_dir)
    model, evaluator, log = run.model(), run.evaluator(), run.events()
    items = model.item_embeddings().detach().float().numpy()
    ids = list(BehaviorTokenizer.from_pretrained(run_dir).item_ids)
    users = []
    with torch.no_grad():
        for start in range(0, min(2000, len(evaluator)), 500):
            batch = evaluator._collate(list(range(start, min(start + 500, len(evaluator)))))
            users.append(model.encode_sequences(
                batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                batch.get("time_gap_ids")))
    queries = torch.cat(users).float().numpy()
    rows = []
    exact = measure_kind("flat", items, ids, queries, None, single)
    exact_ids = exact.pop("_ids")
    rows.append(exact)
    for kind in kinds:
        if kind != "flat":
            row = measure_kind(kind, items, ids, queries, exact_ids, single)
            row.pop("_ids")
            rows.append(row)
    return {"run": run_dir, "dataset": {"source": log.source, **log.stats()},
            "items": len(ids), "dim": int(items.shape[1]), "queries": len(queries),
            "kinds": rows, "sweep": sweep(items, ids, queries, exact_ids),
            "peak_rss_gib": peak_rss_gib(), "mean_item_norm": float(
                np.linalg.norm(items, axis=1).mean())}


def sweep(items, ids, queries, exact_ids) -> list[dict]:
    """Recall@10 and single-query latency against the search-time parameter of each kind."""
    from recsft.retrieval.index import ItemIndex

    grid = {"hnsw": ("ef_search", [32, 64, 128, 256, 512, 1024]),
            "ivf_flat": ("nprobe", [16, 32, 64, 128, 256, 512]),
            "ivf_pq": ("nprobe", [16, 32, 64, 128, 256, 512])}
    out = []
    for kind, (name, values) in grid.items():
        index = ItemIndex(items, ids, kind=kind)
        for value in values:
            _, got = index.search(queries, K, **{name: value})
            latencies = []
            for q in queries[:200]:
                start = time.perf_counter()
                index.search(q, K, **{name: value})
                latencies.append(time.perf_counter() - start)
            out.append({"kind": kind, name: value, "recall@10": recall_at_k(got, exact_ids),
                        **percentiles_ms(latencies)})
            print(json.dumps(out[-1]), file=sys.stderr, flush=True)
    return out


def recommend_case(n_items: int, history_length: int, calls: int, seed: int) -> dict:
    import numpy as np
    import torch

    from recsft.modeling.configuration_sasrec import SASRecConfig
    from recsft.modeling.sasrec import SASRecModel
    from recsft.retrieval.recommender import Recommender
    from recsft.tokenization import BehaviorTokenizer

    torch.manual_seed(seed)
    names = [f"i{i}" for i in range(n_items)]
    tokenizer = BehaviorTokenizer.from_sequences([names])
    config = SASRecConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=256,
                          max_position_embeddings=history_length,
                          num_token_types=tokenizer.num_token_types,
                          first_item_id=tokenizer.first_item_id,
                          pad_token_id=tokenizer.pad_token_id,
                          mask_token_id=tokenizer.mask_token_id)
    model = SASRecModel(config).eval()
    start = time.perf_counter()
    recommender = Recommender(model, tokenizer)
    build = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    histories = [[names[i] for i in rng.integers(0, n_items, history_length)]
                 for _ in range(calls + 20)]
    for history in histories[:20]:
        recommender.recommend(history, k=K)
    total, encode, search = [], [], []
    for history in histories[20:]:
        start = time.perf_counter()
        recommender.recommend(history, k=K)
        total.append(time.perf_counter() - start)
    for history in histories[20:]:
        start = time.perf_counter()
        query = recommender.encode([history])
        middle = time.perf_counter()
        recommender.index.search(query, K, exclude=[history])
        encode.append(middle - start)
        search.append(time.perf_counter() - middle)
    return {"items": n_items, "history_length": history_length, "calls": calls,
            "index": recommender.index.kind, "model": "sasrec hidden 64, 2 layers (untrained)",
            "torch_threads": torch.get_num_threads(), "index_build_seconds": round(build, 2),
            "recommend": percentiles_ms(total), "encode": percentiles_ms(encode),
            "search": percentiles_ms(search), "peak_rss_gib": peak_rss_gib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["synthetic", "real", "recommend"],
                        choices=["synthetic", "real", "recommend"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--kinds", nargs="+", default=["flat", "hnsw", "ivf_flat", "ivf_pq"])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single-queries", type=int, default=500,
                        help="queries timed one at a time")
    parser.add_argument("--run", default="runs/sasrec-beauty-bert4rec")
    parser.add_argument("--e2e-items", type=int, default=100_000)
    parser.add_argument("--e2e-calls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="retrieval")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        part, *rest = args.only.split(":")
        if part == "synthetic":
            out = synthetic_case(int(rest[0]), int(rest[1]), args.kinds, args.queries,
                                 args.single_queries, args.seed)
        elif part == "real":
            out = real_case(args.run, args.kinds, args.single_queries)
        else:
            out = recommend_case(args.e2e_items, 50, args.e2e_calls, args.seed)
        print(json.dumps(out))
        return

    import faiss

    from recsft.environment import environment
    from recsft.report.text import write_benchmark_result

    # Parts not run this time keep their figures from an earlier run of the same output.
    path = os.path.join(ROOT, "benchmarks", "results", f"{args.output}.json")
    result = {"synthetic": [], "real": None, "recommend": None}
    if os.path.exists(path):
        with open(path) as handle:
            result.update(json.load(handle))
    result["environment"] = {**environment(), "faiss": faiss.__version__,
                             "machine": platform.machine()}
    settings = {key: value for key, value in vars(args).items() if key != "only"}
    result.setdefault("settings_by_part", {}).update({part: settings for part in args.parts})
    result.pop("settings", None)
    jobs = []
    if "synthetic" in args.parts:
        jobs += [f"synthetic:{n}:{d}" for n in args.sizes for d in args.dims]
    jobs += [part for part in ("real", "recommend") if part in args.parts]
    for job in jobs:
        done = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", job],
                              check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        out = json.loads(done.stdout.strip().splitlines()[-1])
        if job.startswith("synthetic"):
            result["synthetic"] = sorted(
                [case for case in result["synthetic"]
                 if (case["items"], case["dim"]) != (out["items"], out["dim"])] + [out],
                key=lambda case: (case["items"], case["dim"]))
        else:
            result[job] = out
        print(job, json.dumps(out), flush=True)
        write_benchmark_result(ROOT, args.output, result)
    print("wrote", write_benchmark_result(ROOT, args.output, result))


if __name__ == "__main__":
    from recsft.progress import silence_libraries

    silence_libraries()  # the libraries' own bars and advisory logs stay out of the output
    main()
