"""``recsft data prepare | stats | list``: event data on its own."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from recsft.cli.common import pairs


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the data commands."""
    data = commands.add_parser("data", help="prepare event data and describe it")
    verbs = data.add_subparsers(dest="data_command", required=True, metavar="VERB")
    prepare = verbs.add_parser("prepare", help="write a prepared dataset folder (Arrow), which "
                               "a run config's data.source can name")
    _add_source_arguments(prepare)
    prepare.add_argument("--out", required=True, help="prepared dataset folder: a new folder or "
                         "one this command wrote (replaced when the new one is complete)")
    prepare.add_argument("--preprocess", action="append", default=[], metavar="KEY=VALUE",
                         help="a preprocessing option, e.g. user_k=5 (repeatable)")
    prepare.add_argument("--force", action="store_true", help="ignore a cached preparation")
    prepare.add_argument("--memory-gib", type=float, default=4.0, metavar="G",
                         help="bound on the peak memory (default 4): it sets the streaming "
                         "path's buckets; an input that cannot stream must fit it in memory")
    prepare.add_argument("--engine", choices=("auto", "memory", "stream"), default="auto",
                         help="streaming (csv, tsv, parquet files and folders; time window, "
                         "event types, duplicates, k-core), in memory, or auto: streaming "
                         "when it can, else in memory (default)")
    prepare.add_argument("--buckets", type=int, default=None, metavar="N",
                         help="streaming: number of user buckets (default: from the input's "
                         "size and --memory-gib)")
    prepare.set_defaults(handler=_prepare)
    stats = verbs.add_parser("stats", help="users, items, lengths, event mix, time span")
    _add_source_arguments(stats)
    stats.add_argument("--prepared", help="a prepared dataset folder instead of a source")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(handler=_stats)
    listing = verbs.add_parser("list", help="the named datasets, their sources and terms")
    listing.set_defaults(handler=_list)


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="named dataset (see `recsft data list`): read from "
                        "--path, $RECSFT_DATA_DIR/NAME or the cache, else downloaded once")
    parser.add_argument("--path", help="local copy of the named dataset (folder or file)")
    parser.add_argument("--input", help="an event file (csv, tsv, parquet, jsonl, ...) or a "
                        "Parquet dataset folder (part-*.parquet, key=value partitions)")
    parser.add_argument("--format", default="auto", help="reader for --input (default: auto)")
    parser.add_argument("--column", action="append", default=[], metavar="CANONICAL=NAME",
                        help="column mapping for --input, e.g. user_id=visitorid (repeatable)")
    parser.add_argument("--event-map", action="append", default=[], metavar="SOURCE=CANONICAL",
                        help="event type mapping for --input, e.g. addtocart=cart (repeatable)")


def _open(args: argparse.Namespace):
    from recsft.data.sources import open_source

    if args.input is not None and os.path.isdir(args.input):
        from recsft.data.stream import read_folder_log

        events = read_folder_log(args.input, args.format, pairs(args.column, "--column"),
                                 pairs(args.event_map, "--event-map") or None)
        return events, Path(args.input)

    return open_source(
        dataset=args.dataset, path=args.path, input=args.input, format=args.format,
        columns=pairs(args.column, "--column"), event_map=pairs(args.event_map, "--event-map"),
    )


def _source_file(args: argparse.Namespace):
    from pathlib import Path

    from recsft.errors import RecsftError

    if args.dataset is not None:
        from recsft.data.registry import locate

        return args.dataset, locate(args.dataset, args.path)
    if args.input is None:
        raise RecsftError("give exactly one of a named dataset (--dataset) or a file (--input)")
    return None, Path(args.input)


def _prepare(args: argparse.Namespace) -> int:
    import time

    from recsft.data.prepare import (
        cache_key,
        cached,
        input_digest,
        is_prepared_folder,
        prepare_or_load,
    )
    from recsft.data.preprocess import PreprocessConfig, preprocess
    from recsft.errors import RecsftError
    from recsft.runs.guard import check_folder_output

    start = time.perf_counter()
    options = {k: _scalar(v) for k, v in pairs(args.preprocess, "--preprocess").items()}
    known = sorted(PreprocessConfig.__dataclass_fields__)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise RecsftError(f"--preprocess: unknown option '{unknown[0]}'; the options are "
                          f"{', '.join(known)}")
    config = PreprocessConfig(**options)
    _, source_file = _source_file(args)
    check_folder_output(args.out, "--out", is_prepared_folder, "a prepared dataset",
                        inputs=(source_file,))
    settings = {"dataset": args.dataset, "format": args.format, "columns": args.column,
                "event_map": args.event_map, "preprocess": options}
    digest = input_digest(source_file)
    key = cache_key(digest, settings)

    def build():
        from recsft.data.sources import require_events

        log, _ = _open(args)
        return require_events(preprocess(log, config), "--preprocess")

    metadata = {"source": str(source_file), "source_sha256": digest, "settings": settings}
    hit = None if args.force else cached(args.out, key)
    if hit is not None:
        record, state = hit, "cached"
    elif _engine(args, source_file, config) == "stream":
        from recsft.data.stream import EventInput, prepare_stream

        source = EventInput.open(source_file, args.format, pairs(args.column, "--column"),
                                 pairs(args.event_map, "--event-map") or None)
        record = prepare_stream(source, args.out, config, memory_gib=args.memory_gib,
                                buckets=args.buckets, metadata=metadata, key=key)
        state = f"prepared in {time.perf_counter() - start:.1f} s, streaming"
    else:
        record, _ = prepare_or_load(args.out, key, build, metadata, force=True)
        state = f"prepared in {time.perf_counter() - start:.1f} s"
    stats = record["stats"]
    print(f"{args.out}: {stats['users']:,} users, {stats['items']:,} items, "
          f"{stats['interactions']:,} interactions ({state})")
    return 0


def _engine(args: argparse.Namespace, source_file: Path, config) -> str:
    """``memory`` or ``stream`` for ``recsft data prepare`` (see
    :func:`recsft.data.stream.choose_engine`)."""
    from recsft.data.stream import STREAM_FORMATS, EventInput, choose_engine
    from recsft.errors import RecsftError

    if args.memory_gib <= 0:
        raise RecsftError(f"--memory-gib {args.memory_gib:g}: expected a positive number")
    if args.buckets is not None and args.buckets < 1:
        raise RecsftError(f"--buckets {args.buckets}: expected a positive number")
    if args.engine == "memory":
        return "memory"
    if args.dataset is not None:
        if args.engine == "stream":
            raise RecsftError("--engine stream: streaming reads --input files and folders; "
                              "pass the named dataset's event file as --input")
        return "memory"
    if source_file.is_dir():
        fmt = "parquet" if args.format in ("auto", "parquet") else args.format
    else:
        from recsft.data.readers import detect_format

        fmt = detect_format(source_file) if args.format == "auto" else args.format
    rows = None
    if fmt in STREAM_FORMATS:
        rows = EventInput.open(source_file, fmt, pairs(args.column, "--column"),
                               pairs(args.event_map, "--event-map") or None).estimated_rows()
    return choose_engine(args.engine, source_file, fmt, config, rows, args.memory_gib)


def _scalar(text: str):
    """A ``--preprocess`` value: YAML scalars (numbers, booleans, null), else the text."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (str, int, float, bool)) or value is None else text


def _stats(args: argparse.Namespace) -> int:
    if args.prepared:
        from recsft.data.prepare import read_metadata

        stats = read_metadata(args.prepared)["stats"]
        name = None
    else:
        from recsft.data.prepare import dataset_stats

        log, _ = _open(args)
        stats = dataset_stats(log)
        name = args.dataset
    if name is not None:
        from recsft.data.registry import compare_with_published

        stats["published"] = compare_with_published(name, {
            k: stats[k] for k in ("users", "items", "interactions")
        })
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    from recsft.report.text import format_stats

    print(format_stats(stats))
    return 0


def _list(args: argparse.Namespace) -> int:
    from recsft.data.registry import REGISTRY

    for spec in REGISTRY.values():
        how = "download" if spec.remote else "manual download"
        print(f"{spec.name:<24} {spec.description} [{spec.format}; {how}]")
        print(f"{'':<24} terms: {spec.license}")
    return 0
