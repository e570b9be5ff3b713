"""Order-only text formats: SASRec (``user item`` per line) and S3-Rec (``user item item ...``
per line), both already in time order, and S3-Rec's ``*_item2attributes.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recsft.data.events import DEFAULT_EVENT_TYPE, EventLogError
from recsft.data.readers.common import ReadRequest, ReadResult
from recsft.data.readers.lines import decode_all, first_line, read_bytes


def read_text(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    """SASRec or S3-Rec lines; the timestamp is the position in the file (ties impossible)."""
    path, fmt = request.path, request.format
    first_line(path, encoding)
    text = decode_all(path, read_bytes(path), encoding)
    users: list[str] = []
    items: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if fmt == "sasrec":
            if len(tokens) != 2:
                raise EventLogError(
                    path, f"expected 2 fields 'user item', found {len(tokens)}", line=number
                )
            users.append(tokens[0])
            items.append(tokens[1])
        else:
            if len(tokens) < 2:
                raise EventLogError(
                    path, "expected 'user item [item ...]', found only a user", line=number
                )
            users.extend([tokens[0]] * (len(tokens) - 1))
            items.extend(tokens[1:])
    frame = pd.DataFrame(
        {
            "user_id": users,
            "item_id": items,
            "timestamp": np.arange(len(users), dtype=np.int64),
            "event_type": DEFAULT_EVENT_TYPE,
        }
    )
    return ReadResult(frame, None, encoding=encoding, timestamp_unit=None)


def s3rec_items_beside(path: Path) -> Path | None:
    """``Beauty.txt`` -> ``Beauty_item2attributes.json`` when present."""
    stem = path.name.split(".")[0]
    beside = path.with_name(f"{stem}_item2attributes.json")
    return beside if beside.exists() else None


def read_item2attributes(path: Path, encoding: str) -> pd.DataFrame:
    """One JSON object: item id -> list of attribute ids (read as lists of str)."""
    text = decode_all(path, read_bytes(path, document=True), encoding)
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as err:
        raise EventLogError(path, f"not valid JSON ({err.msg}); expected one JSON object "
                                  "mapping item ids to lists of attribute ids",
                            line=err.lineno) from err
    if not isinstance(mapping, dict):
        raise EventLogError(path, "expected one JSON object mapping item ids to lists of "
                                  f"attribute ids, found {type(mapping).__name__}")
    attributes = [[str(a) for a in (v if isinstance(v, list) else [v])] for v in mapping.values()]
    return pd.DataFrame({"item_id": [str(k) for k in mapping],
                         "attributes": pd.Series(attributes, dtype=object)})
