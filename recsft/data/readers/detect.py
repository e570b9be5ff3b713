"""Which reader a file needs, from its name and its first line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from recsft.data.events import FORMATS, EventLogError
from recsft.data.readers.common import TAOBAO_EVENT_MAP
from recsft.data.readers.lines import base_name, first_line, require_input
from recsft.data.readers.movielens import MOVIELENS_SPLIT

RETAILROCKET_HEADER = ["timestamp", "visitorid", "event", "itemid", "transactionid"]


def detect_format(path: str | os.PathLike) -> str:
    """Guess the reader from the file name and its first line.

    Rules, in order (a ``.gz`` suffix is looked through): ``.parquet`` -> parquet; ``.inter``
    -> recbole; ``u.data`` (and ``u1.base`` ...) or a ``.dat`` file whose first line is
    ``a::b::c::d`` -> movielens; ``UserBehavior*.csv`` or a headerless CSV whose fourth field is
    pv/cart/fav/buy -> taobao; a CSV with RetailRocket's header -> retailrocket; other
    ``.csv`` -> csv; ``.tsv`` -> tsv; ``.jsonl`` / ``.ndjson`` / ``.json`` whose first object has
    ``reviewerID`` and ``asin`` -> amazon-reviews, else (one JSON object on the first line)
    jsonl; any other file whose first line has 3 or more tab-separated fields -> tsv, 2
    whitespace-separated fields -> sasrec, more -> s3rec.

    Args:
        path: The event file.

    Returns:
        One of :data:`~recsft.data.events.FORMATS`.

    Raises:
        EventLogError: the file is missing, empty or not a readable regular file, or no rule
            matches.

    Example:
        >>> detect_format("ml-100k/ml-100k.inter")  # doctest: +SKIP
        'recbole'
    """
    path = Path(path)
    base = base_name(path)
    if base.endswith(".parquet"):
        return "parquet"
    require_input(path)
    if base.endswith(".inter"):
        return "recbole"
    if MOVIELENS_SPLIT.fullmatch(base):
        return "movielens"
    first = first_line(path, "utf-8", errors="replace").lstrip("\ufeff")
    if base.endswith(".dat") and len(first.split("::")) == 4:
        return "movielens"
    if base.endswith(".csv"):
        fields = [f.strip() for f in first.split(",")]
        if base.startswith("userbehavior"):
            return "taobao"
        if fields == RETAILROCKET_HEADER:
            return "retailrocket"
        if len(fields) == 5 and fields[3] in TAOBAO_EVENT_MAP and fields[4].isdigit():
            return "taobao"
        return "csv"
    if base.endswith(".tsv"):
        return "tsv"
    if base.endswith((".jsonl", ".ndjson", ".json")):
        stripped = first.strip()
        if stripped.startswith("{") and "reviewerID" in stripped and "asin" in stripped:
            return "amazon-reviews"
        try:
            is_object = isinstance(json.loads(stripped), dict)
        except ValueError:
            is_object = False
        if is_object:
            return "jsonl"
    else:
        if len(first.split("\t")) >= 3:  # a tab-separated header, e.g. YOOCHOOSE's
            return "tsv"
        tokens = first.split()
        if len(tokens) == 2:
            return "sasrec"
        if len(tokens) > 2:
            return "s3rec"
    raise EventLogError(
        path, "cannot detect the format; pass format= one of " + ", ".join(FORMATS)
    )
