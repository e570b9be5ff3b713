"""``recsft search`` (top-k items for a query and a history, from a run's search index) and
``recsft search build`` (fit and save that index: :mod:`recsft.search.index`)."""

from __future__ import annotations

import argparse
import json

from recsft.cli.common import split_ids
from recsft.errors import RecsftError


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``search`` and ``search build``."""
    search = commands.add_parser(
        "search", help="personalised search: top-k items for a query and a history "
        "('recsft search build' makes the run's search index first)")
    search.add_argument("--run", help="run folder with a search index, e.g. runs/demo")
    search.add_argument("--query", help="the search text")
    search.add_argument("--history", default="",
                        help="comma-separated item ids, oldest first (default: none)")
    search.add_argument("--k", type=int, default=10, help="items to return")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")
    search.set_defaults(handler=_search)
    verbs = search.add_subparsers(dest="search_command", required=False, metavar="VERB")
    build = verbs.add_parser(
        "build", help="fit a run's search index (BM25 + dense text + the run's model, "
        "re-ranked) from a search log and save it in the run's search/ folder")
    build.add_argument("--run", required=True, help="run folder, e.g. runs/demo")
    build.add_argument("--events", required=True,
                       help="search log (any event format recsft reads) with a 'query' column")
    build.add_argument("--item-table", help="item table (default: the run's data.item_table)")
    build.add_argument("--item-text", help="text template over its columns, e.g. '{title}' "
                       "(default: the run's data.item_text)")
    build.add_argument("--kind", default="lightgbm", choices=["lightgbm", "linear"],
                       help="re-ranker: LightGBM lambdarank or a linear fusion")
    build.add_argument("--top-n", type=int, default=100,
                       help="first-stage candidates per source")
    build.add_argument("--json", action="store_true", help="print JSON instead of text")
    build.set_defaults(handler=_build)


def _build(args: argparse.Namespace) -> int:
    from recsft.search.build import build_search_index

    record = build_search_index(args.run, args.events, args.item_table, args.item_text,
                                kind=args.kind, top_n=args.top_n)
    if args.json:
        print(json.dumps(record, default=str))
        return 0
    counts = record["searches"]
    print(f"search index of {args.run}: {record['kind']} re-ranker over "
          f"{record['num_items']:,} items ({record['items_with_text']:,} with text), "
          f"features {len(record['features'])}")
    print("searches: " + ", ".join(f"{split} {int(c.get('searches', 0)):,}"
                                   for split, c in counts.items() if isinstance(c, dict)))
    print(f"wrote {len(record['files'])} files in {args.run}/search")
    return 0


def _search(args: argparse.Namespace) -> int:
    if not args.run or args.query is None:
        raise RecsftError("recsft search needs --run and --query (or 'recsft search build "
                          "--run R --events E' to build the index)")
    if args.k < 1:
        raise RecsftError(f"--k {args.k}: expected a positive integer, at most the catalogue "
                          "size")
    from recsft.retrieval.recommender import Recommender
    from recsft.search.index import has_search_index, how_to_build

    if not has_search_index(args.run):   # before the model is loaded
        raise RecsftError(f"{args.run}: the run has no search index; build one with "
                          f"'{how_to_build(args.run)}'")
    recommender = Recommender.from_pretrained(args.run)
    results = recommender.search(args.query, split_ids(args.history), k=args.k)
    if args.json:
        print(json.dumps([{"item_id": i, "score": s} for i, s in results]))
        return 0
    print(f"{'rank':>4}  {'item':<16} score")
    for rank, (item, score) in enumerate(results, start=1):
        print(f"{rank:>4}  {item:<16} {score:.4f}")
    return 0
