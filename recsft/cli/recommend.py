"""``recsft recommend``, ``recsft index build`` and ``recsft index add``: commands that answer
from a run or change its index."""

from __future__ import annotations

import argparse
import json
import sys

from recsft.cli.common import pairs, split_ids
from recsft.errors import ResourceError


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the serving-side commands."""
    recommend = commands.add_parser(
        "recommend", help="top-k items for one history, or a JSONL file of histories")
    recommend.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    source = recommend.add_mutually_exclusive_group(required=True)
    source.add_argument("--history", help="comma-separated item ids, oldest first ('' = empty)")
    source.add_argument("--input", help="JSONL file, one {\"history\": [...], ...} per line "
                        "(fields: user_id, history, event_types, timestamps, exclude, k)")
    recommend.add_argument("--output", help="JSONL answers for --input (default: stdout)")
    recommend.add_argument("--k", type=int, default=10,
                           help="recommendations per history (at most the catalogue size)")
    recommend.add_argument("--index", help="index folder if not the run folder (built for this "
                           "run with 'recsft index build --output')")
    recommend.add_argument("--exclude", default="", help="comma-separated items never to return")
    recommend.add_argument("--batch-size", type=int, default=256,
                           help="histories encoded per model call")
    recommend.add_argument("--json", action="store_true", help="print JSON instead of a table")
    recommend.add_argument("--transitions", action="store_true",
                           help="rank with the model mixed with the run's item transitions "
                                "(fitted by 'recsft transitions'; scores are log-probabilities)")
    recommend.set_defaults(handler=_recommend)

    index = commands.add_parser("index", help="build a run's FAISS item index of another kind")
    index_verbs = index.add_subparsers(dest="index_command", required=True, metavar="VERB")
    build = index_verbs.add_parser("build", help="build and save an index from a run's model")
    build.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    build.add_argument("--kind", default="flat", help="flat, hnsw, ivf_flat or ivf_pq")
    build.add_argument("--metric", default="ip", choices=["ip", "cosine"])
    build.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="an index parameter, e.g. m=48 or nprobe=16 (repeatable)")
    build.add_argument("--output", help="index folder (default: the run folder, replacing "
                       "its index); a new folder or one this command wrote")
    build.add_argument("--check-queries", type=int, default=500,
                       help="item vectors used to measure recall@10 against exact search")
    build.add_argument("--json", action="store_true", help="print JSON instead of text")
    build.set_defaults(handler=_index)
    add = index_verbs.add_parser(
        "add", help="add new items to a run without retraining (a model that reads item text "
        "scores them from it): model, tokenizer, index and popularity grow")
    add.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    add.add_argument("--items", required=True,
                     help="item table (CSV, TSV, Parquet or JSON lines) with an item_id column")
    add.add_argument("--text-template", help="the items' text over the table's columns, e.g. "
                     "'{title}. {brand}' (default: the run's data.item_text)")
    add.add_argument("--json", action="store_true", help="print JSON instead of text")
    add.set_defaults(handler=_index_add)


def check_k(k: int, catalogue: int, where: str = "--k") -> None:
    """``k`` must be a positive integer no larger than the catalogue, checked before anything
    is allocated for it.

    Raises:
        ResourceError: naming ``where``, the value and the bound.
    """
    if k < 1 or k > catalogue:
        raise ResourceError(f"{where} {k}: expected an integer from 1 to the catalogue size "
                            f"({catalogue:,} items)")


def _load(args: argparse.Namespace):
    from recsft.retrieval.recommender import Recommender

    return Recommender.from_pretrained(args.run, index_dir=args.index,
                                       transitions=args.transitions)


def _recommend(args: argparse.Namespace) -> int:
    if args.k < 1:   # before the run is loaded
        raise ResourceError(f"--k {args.k}: expected a positive integer, at most the catalogue "
                            "size")
    requests = None
    if args.input:
        from recsft.retrieval.requests import read_requests

        if args.output:
            from recsft.runs.guard import check_file_output

            check_file_output(args.output, "--output", _looks_like_answers, inputs=(args.input,))
        from recsft.fileio import require_regular_file

        require_regular_file(args.input, "request file")
        requests = read_requests(args.input)
    recommender = _load(args)
    catalogue = len(recommender.tokenizer.item_ids)
    check_k(args.k, catalogue)
    if requests is not None:
        for request in requests:
            if request.k is not None:
                check_k(request.k, catalogue, f"{args.input}, line {request.line}, field 'k':")
        return _recommend_file(recommender, requests, args)
    history = split_ids(args.history)
    results = recommender.recommend(history, k=args.k, exclude=split_ids(args.exclude))
    unknown = recommender.unknown_items(history)
    if args.json:
        print(json.dumps([{"item_id": i, "score": s} for i, s in results]))
        return 0
    if unknown:
        print(f"skipped items unknown to the model: {', '.join(unknown)}", file=sys.stderr)
    if len(unknown) == len(history):
        print("no item of the history is known to the model: most popular items",
              file=sys.stderr)
    print(f"{'rank':>4}  {'item':<16} score")
    for rank, (item, score) in enumerate(results, start=1):
        print(f"{rank:>4}  {item:<16} {score:.4f}")
    return 0


def _looks_like_answers(path) -> bool:
    """An answer file this command wrote: its first line has ``items`` and ``scores``."""
    try:
        with open(path, encoding="utf-8") as handle:
            first = json.loads(handle.readline(1 << 20))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(first, dict) and {"items", "scores"} <= set(first)


def _recommend_file(recommender, requests, args: argparse.Namespace) -> int:
    """Answer a request file: one JSON line per request, in order (written atomically).

    Requests are answered one model call at a time (``--batch-size`` histories the model
    reads: the batches ``recommend_batch`` would make of the whole file, so the scores are the
    same), under one progress bar; items unknown to the model are reported once for the whole
    file."""
    import logging

    from recsft import progress

    extra = split_ids(args.exclude)
    by_k: dict[int, list[int]] = {}
    for n, request in enumerate(requests):
        by_k.setdefault(request.k or args.k, []).append(n)
    answers: list[list[tuple[str, float]]] = [[] for _ in requests]
    size = max(1, args.batch_size)
    unknowns = [recommender.unknown_items(r.history) for r in requests]
    warm = [len(unknown) < len(r.history) for unknown, r in zip(unknowns, requests)]
    bar = progress.bar(total=len(requests), desc="recommending", unit="request")
    # recommend_batch warns of unknown items once per call: once for the file instead, below.
    quiet_logger = logging.getLogger("recsft.retrieval.recommender")
    level = quiet_logger.level
    quiet_logger.setLevel(logging.ERROR)
    try:
        for k, rows in by_k.items():
            typed = all(requests[n].event_types is not None for n in rows)
            timed = all(requests[n].timestamps is not None for n in rows)
            for part in _chunks(rows, warm, size):
                chosen = [requests[n] for n in part]
                results = recommender.recommend_batch(
                    [r.history for r in chosen], k,
                    event_types=[r.event_types for r in chosen] if typed else None,
                    timestamps=[r.timestamps for r in chosen] if timed else None,
                    exclude=[r.exclude + extra for r in chosen], batch_size=size)
                for n, result in zip(part, results):
                    answers[n] = result
                bar.update(len(part))
    finally:
        quiet_logger.setLevel(level)
        bar.close()
    unknown = sorted({item for items in unknowns for item in items})
    if unknown:
        progress.note(f"read {len(unknown)} item id(s) unknown to the model as [UNK], e.g. "
                      f"{', '.join(unknown[:5])}")
    lines = []
    for request, result, unknown in zip(requests, answers, unknowns):
        lines.append(json.dumps({
            "user_id": request.user_id, "line": request.line,
            "items": [i for i, _ in result], "scores": [s for _, s in result],
            "source": "popularity" if len(unknown) == len(request.history) else "model",
            "unknown_items": unknown,
        }))
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.output:
        from recsft.fileio import atomic_write_text

        atomic_write_text(args.output, text)
        print(f"wrote {len(lines)} recommendation lists to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _chunks(rows: list[int], warm: list[bool], size: int) -> list[list[int]]:
    """``rows`` cut so that each part holds ``size`` rows the model reads (``warm``; the others
    are answered by popularity), the last part the rest."""
    parts: list[list[int]] = [[]]
    read = 0
    for n in rows:
        if warm[n] and read == size:
            parts.append([])
            read = 0
        parts[-1].append(n)
        read += warm[n]
    return [part for part in parts if part]


def _index(args: argparse.Namespace) -> int:
    from recsft.retrieval.build import build_run_index, parse_params

    report = build_run_index(args.run, kind=args.kind, metric=args.metric,
                             params=parse_params(pairs(args.param, "--param")),
                             output=args.output, check_queries=args.check_queries)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    recall = "not checked" if report.recall_at_10 is None else (
        f"{report.recall_at_10:.4f} against exact search ({report.check_queries} item queries)")
    from recsft.report.text import wrap

    params = ", ".join(f"{k} {v}" for k, v in report.params.items()) or "none"
    print(wrap(f"built a {report.kind} index of {report.items:,} items (d = {report.dim}) in "
               f"{report.build_seconds:.2f} s, {report.size_mib} MiB\n"
               f"  parameters: {params}\n  into {report.directory}\nrecall@10: {recall}",
               indent="    "))
    return 0


def _index_add(args: argparse.Namespace) -> int:
    from recsft.runs.items import add_run_items

    report = add_run_items(args.run, args.items, template=args.text_template)
    if args.json:
        print(json.dumps({"added": report.added, "known": report.known, "run": args.run}))
        return 0
    print(f"added {len(report.added):,} new item(s) to {args.run}; "
          f"{len(report.known):,} already known (skipped)")
    return 0
