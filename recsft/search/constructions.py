"""The Amazon product-search construction: queries written from purchased items' categories.

Amazon review data has no queries. The personalised product-search papers (HEM, Ai et al.
SIGIR 2017; ZAM, Ai et al. CIKM 2019; TEM, Bi et al. 2020) build them the same way, followed
here by :func:`product_search_events`:

1. Each user's purchases (every event of the log, or those of ``event_types``) in time order,
   ties in file order.
2. Every purchase after the user's first is a search: its *target* is the purchased item, its
   *history* the user's earlier purchases (oldest first, newest ``max_length``).
3. Its *query* is :func:`category_query` of the purchased item's category path: the words of
   the path, lower-cased, with punctuation dropped, stop words removed and each word kept once,
   in first-occurrence order (``"Industrial & Scientific Lab Supplies Lab Tubing"`` →
   ``"industrial scientific lab supplies tubing"``). A purchase of an item without a category
   path gives no search (counted in ``metadata``); its item still enters later histories.
4. Split: the dataset's leave-one-out — the user's last purchase (last search) is ``"test"``,
   the one before ``"valid"``, the rest ``"train"``
   (:func:`recsft.search.events.leave_last_out`).

The category path comes from a column of a generic item table or a function of an item's row.
Amazon-Scientific (UniSRec release) stores one text per item, ``"<title>. <categories>.
<brand>."`` (``Scientific.text``); :func:`scientific_category_path` takes its category
sentence, and :func:`scientific_product_search` runs the whole construction from the
dataset's folder with recsft's own readers.

Example:
    >>> category_query("Industrial & Scientific Lab & Scientific Products Lab Tubing")
    'industrial scientific lab products tubing'
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping

import numpy as np
import pandas as pd

from recsft.data.events import EventLog, EventLogError
from recsft.search.events import (
    DEFAULT_MAX_LENGTH,
    SearchEvents,
    _check_args,
    leave_last_out,
)

#: Common English function words (a short list, as the papers' Indri/Galago stop lists).
_STOP_TEXT = """
a about above after again all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each etc few for from further had
has have having he her here hers him his how i if in into is it its itself just me more most my
no nor not now of off on once only or other our ours out over own same she should so some such
than that the their theirs them then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your yours
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
#: The root every Amazon-Scientific category path starts with.
SCIENTIFIC_ROOT = "Industrial & Scientific"
_WORDS = re.compile(r"[^\W_]+")


def category_query(path: str, stop_words: Collection[str] = STOP_WORDS) -> str:
    """The query written from a category path (step 3 of the module docstring).

    Args:
        path: The category path as text (levels separated by spaces, ``>``, ``|``, ...).
        stop_words: Lower-case words to drop.

    Returns:
        The words joined by single spaces; ``""`` when none is left.
    """
    words = _WORDS.findall(unicodedata.normalize("NFKC", str(path)).lower())
    return " ".join(dict.fromkeys(w for w in words if w not in stop_words))


def scientific_category_path(text: str, root: str = SCIENTIFIC_ROOT) -> str:
    """The category sentence of an Amazon-Scientific item text, ``""`` when it has none.

    The text is ``"<title>. <categories>. <brand>."``; titles and brands may hold ``". "``
    themselves (``"Mr. Heater"``), so the category sentence is found as the last
    ``". "``-separated part that starts with the dataset's root category. In the release 134
    of 4,385 items have an empty category sentence (``"<title>. . <brand>."``).

    Example:
        >>> scientific_category_path("Mr. Heater Kit. Industrial & Scientific Pipe Fittings. "
        ...                          "Mr. Heater.")
        'Industrial & Scientific Pipe Fittings'
    """
    parts = [p.strip() for p in str(text).split(". ")]
    found = [p for p in parts if p.startswith(root)]
    return found[-1].rstrip(".").strip() if found else ""


def product_search_events(
    log: EventLog,
    items: pd.DataFrame,
    category: str | Callable[[pd.Series], str] = "categories",
    *,
    event_types: Collection[str] | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    min_searches: int = 2,
    stop_words: Collection[str] = STOP_WORDS,
    source: str = "the item table",
) -> SearchEvents:
    """The Amazon product-search construction (module docstring) over a log and item table.

    Args:
        log: Purchases (or any events; see ``event_types``).
        items: Item table with an ``item_id`` column, one row per item.
        category: The column holding each item's category path, or a function from an item's
            row to its path.
        event_types: Use only events of these types (e.g. ``{"buy"}``); ``None`` for all.
        max_length: History items kept per search (the newest).
        min_searches: Users with fewer searches are ``"train"`` only (default 2: every user
            with at least three purchases gives one valid and one test search, as the
            dataset's leave-one-out).
        stop_words: Lower-case words left out of queries.
        source: The item table's name in error messages (its path).

    Returns:
        One search per purchase after each user's first whose item has a category path.

    Raises:
        EventLogError: The item table lacks ``item_id`` or the category column, or no search
            could be built.
        RecsftError: Bad ``max_length`` / ``min_searches``.
    """
    _check_args(max_length)
    if "item_id" not in items.columns:
        raise EventLogError(source, "expected an 'item_id' column", column="item_id")
    if isinstance(category, str):
        if category not in items.columns:
            raise EventLogError(source, f"no category column; expected '{category}' (the "
                                "category path of each item)", column=category)
        paths = items[category].where(items[category].notna(), "").astype(str)
    else:
        paths = items.apply(lambda row: str(category(row) or ""), axis=1)
    query_of: Mapping[str, str] = dict(zip(
        items["item_id"].astype(str), (category_query(p, stop_words) for p in paths)))
    frame = log.frame
    if event_types is not None:
        frame = frame[frame["event_type"].isin(list(event_types))]
    sequences = EventLog(frame.reset_index(drop=True), source=log.source).sequences() \
        if len(frame) else None
    out: dict[str, list] = {k: [] for k in ("user", "query", "time", "hist", "kinds", "targets")}
    no_path = 0
    for u, user in enumerate(sequences.user_ids if sequences else []):
        seq, kinds, times = sequences.items[u], sequences.event_types[u], sequences.timestamps[u]
        for k in range(1, len(seq)):
            query = query_of.get(str(seq[k]), "")
            if not query:
                no_path += 1
                continue
            out["user"].append(str(user))
            out["query"].append(query)
            out["time"].append(int(times[k]))
            out["hist"].append([str(i) for i in seq[max(0, k - max_length):k]])
            out["kinds"].append([str(t) for t in kinds[max(0, k - max_length):k]])
            out["targets"].append([str(seq[k])])
    if not out["user"]:
        raise EventLogError(log.source, "no product search could be built: every user has "
                            "one purchase, or no purchased item has a category path")
    splits = leave_last_out(out["user"], min_searches)
    metadata = {"source": log.source, "construction": "amazon product search (HEM)",
                "max_length": max_length, "min_searches": min_searches,
                "event_types": sorted(event_types) if event_types is not None else None,
                "purchases_without_category": no_path,
                "items_with_category": int(sum(bool(q) for q in query_of.values()))}
    return SearchEvents(out["user"], out["query"], np.asarray(out["time"], dtype=np.int64),
                        out["hist"], out["kinds"], out["targets"], splits, metadata=metadata)


def scientific_product_search(path: str | os.PathLike | None = None,
                              max_length: int = DEFAULT_MAX_LENGTH) -> SearchEvents:
    """The product-search construction of Amazon-Scientific, read with recsft's readers.

    Args:
        path: The dataset's folder (``Scientific.test.inter`` and ``Scientific.text``); ``None``
            looks where :func:`recsft.data.registry.locate` looks.
        max_length: History items kept per search.

    Returns:
        The searches (every event of the release is a review, taken as a purchase).
    """
    from recsft.data.registry import load_named_dataset, locate_item_table
    from recsft.text.items import read_item_table

    log = load_named_dataset("amazon-scientific", path, download=False)
    table = locate_item_table("amazon-scientific", path)
    items = read_item_table(table)
    if "text" not in items.columns:
        raise EventLogError(table, "expected a 'text' column (title. categories. brand.)",
                            column="text")
    items = items.assign(categories=items["text"].map(scientific_category_path))
    events = product_search_events(log, items, "categories", max_length=max_length,
                                   source=str(table))
    events.metadata["item_table"] = str(table)
    return events
