"""RecBole *sequential* atomic files: ``user_id:token  item_id_list:token_seq  item_id:token``.

UniSRec-style releases (e.g. Amazon-Scientific) ship ``<name>.{train,valid,test}.inter`` in
this layout: one row per user (valid, test) or per prefix (train), a space-separated history
and its next-item target, with integer indices mapped to the original ids by
``<name>.item2index`` / ``<name>.user2index`` (``id<TAB>index`` per line, no header).

Each user's full sequence is rebuilt from one file (normally the test file): history + target,
one event per item, in the file's order. The files have no timestamps, so each user's events
get order-only timestamps ``0, 1, 2, ...``. Indices are mapped back to the original ids through
the ``.item2index`` / ``.user2index`` beside the file when present (so item ids match the keys
of ``<name>.text``); without a map the file's integer tokens are kept as ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsft.data.events import DEFAULT_EVENT_TYPE, EventLogError
from recsft.data.readers.lines import decode_all, read_bytes

#: The layout of a sequential atomic file (names, the ``:type`` stripped).
SEQUENTIAL_LAYOUT = ["user_id", "item_id_list", "item_id"]


def index_map_beside(path: Path, kind: str) -> Path | None:
    """``Scientific.test.inter`` -> ``Scientific.<kind>2index`` when present."""
    beside = path.with_name(f"{path.name.split('.')[0]}.{kind}2index")
    return beside if beside.is_file() else None


def read_index_map(path: Path, encoding: str) -> dict[str, str]:
    """An ``id<TAB>index`` file (no header) -> index -> id.

    Raises:
        EventLogError: a line without exactly two tab-separated fields, an empty field, or an
            index given twice (naming the file and line).
    """
    text = decode_all(path, read_bytes(path), encoding)
    mapping: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise EventLogError(path, f"expected 2 non-empty tab-separated fields 'id<TAB>index',"
                                      f" found {len(fields)} field(s)", line=number)
        original, index = fields[0].strip(), fields[1].strip()
        if index in mapping:
            raise EventLogError(path, f"index '{index[:40]}' given twice; expected each index "
                                      "once", line=number)
        mapping[index] = original
    return mapping


def _mapped(token: str, mapping: dict[str, str] | None, map_path: Path | None, path: Path,
            number: int, column: str) -> str:
    if mapping is None:
        return token
    if token not in mapping:
        where = map_path.name if map_path is not None else "the index map"
        raise EventLogError(path, f"index '{token[:40]}' is not in {where}; expected an index "
                                  "listed there", line=number, column=column)
    return mapping[token]


def read_recbole_sequences(path: Path, names: list[str], encoding: str) -> pd.DataFrame:
    """Rebuild each user's events from a sequential atomic file (history + target per row).

    Args:
        path: The ``.inter`` file whose typed header is ``user_id:token
            item_id_list:token_seq item_id:token``.
        names: The header's column names (types stripped).
        encoding: Text encoding.

    Returns:
        The canonical frame: one event per item of each row's history and target, users in
        file order, ``timestamp`` = the position in the user's sequence (0, 1, 2, ...).

    Raises:
        EventLogError: a header other than the layout above, a row without 3 tab-separated
            fields, an empty user or target, a target with more than one token, a user given
            twice, an index missing from the map beside the file, or no row at all; the
            message names the file and line.
    """
    if names != SEQUENTIAL_LAYOUT:
        raise EventLogError(path, f"header columns {names}; expected {SEQUENTIAL_LAYOUT} "
                                  "(a RecBole sequential atomic file)", line=1)
    item_path, user_path = index_map_beside(path, "item"), index_map_beside(path, "user")
    items_map = read_index_map(item_path, encoding) if item_path else None
    users_map = read_index_map(user_path, encoding) if user_path else None
    text = decode_all(path, read_bytes(path), encoding)
    users: list[str] = []
    items: list[str] = []
    times: list[int] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if number == 1 or not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise EventLogError(path, f"expected 3 tab-separated fields 'user<TAB>history<TAB>"
                                      f"target', found {len(fields)}", line=number)
        user, history, target = fields[0].strip(), fields[1].split(), fields[2].split()
        if not user:
            raise EventLogError(path, "empty user; expected a user index", line=number,
                                column="user_id")
        if len(target) != 1:
            raise EventLogError(path, f"expected one target item, found {len(target)}",
                                line=number, column="item_id")
        if user in seen:
            raise EventLogError(path, f"user '{user[:40]}' also on line {seen[user]}; expected "
                                      "one row per user (read the valid or test file, not the "
                                      "train file)", line=number, column="user_id")
        seen[user] = number
        sequence = [_mapped(t, items_map, item_path, path, number, "item_id_list")
                    for t in history]
        sequence.append(_mapped(target[0], items_map, item_path, path, number, "item_id"))
        users.extend([_mapped(user, users_map, user_path, path, number, "user_id")]
                     * len(sequence))
        items.extend(sequence)
        times.extend(range(len(sequence)))
    if not users:
        raise EventLogError(path, "no rows after the header; expected one row per user")
    return pd.DataFrame({"user_id": users, "item_id": items,
                         "timestamp": np.asarray(times, dtype=np.int64),
                         "event_type": DEFAULT_EVENT_TYPE})
