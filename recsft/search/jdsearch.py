"""Reader of JDsearch ``release_data.txt`` files (Liu et al., SIGIR 2023, rucliujn/JDsearch).

One line per user, seven tab-separated fields (the dataset's README)::

    query  candidate_wid_list  candidate_label_list  history_qry_list  history_wid_list
    history_type_list  history_time_list

- ``query``: the test query, term ids separated by ``\\x18`` (``^X``), e.g. ``12^X32^X56``.
- ``candidate_wid_list``: the products displayed under it (at most 200), ``_``-separated.
- ``candidate_label_list``: their labels, ``_``-separated floats: 0 no interaction, 1 click,
  2 add to cart, 3 purchase.
- ``history_qry_list``: per history interaction, the query it came under (term ids joined by
  ``^X``) or ``-1`` for a query-less interaction; ``_``-separated.
- ``history_wid_list``: the history's products, ``_``-separated.
- ``history_type_list``: their interaction levels, ``ORD`` / ``CLICK`` / ``CART`` / ``FLW``
  (read as recsft's ``buy`` / ``click`` / ``cart`` / ``fav``).
- ``history_time_list``: time since the previous behaviour, one more entry than the history
  (the last is the test query's), the first ``0``; non-negative integers.

:func:`read_jdsearch` turns each line into search events (the user id is the 1-based line
number, as a string; timestamps are the running sums of the intervals):

- a **test** search: the test query, the whole history (newest ``max_length``), targets = the
  candidates with a label above 0 in candidate order, and the candidates with their labels
  kept. A line without a positive label gives no test search (the dataset's authors drop
  those users from the test part), but its history still gives training searches.
- **history** searches: each run of consecutive history interactions under the same query
  (not ``-1``) is one search whose targets are the run's products and whose history is
  everything before the run. The user's last history search is ``"valid"`` when the user has
  at least two, the others ``"train"``; all of them precede the test query.

A query's text is its term ids joined by single spaces, so BM25 can match it against item
names written in the same term ids (``product_data.txt``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from recsft.data.events import EventLogError
from recsft.search.events import DEFAULT_MAX_LENGTH, SearchEvents, _check_args

FIELDS = ("query", "candidate_wid_list", "candidate_label_list", "history_qry_list",
          "history_wid_list", "history_type_list", "history_time_list")
TERM_SEPARATOR = "\x18"
LIST_SEPARATOR = "_"
NO_QUERY = "-1"
#: JDsearch interaction levels → recsft event types.
EVENT_TYPES = {"ORD": "buy", "CLICK": "click", "CART": "cart", "FLW": "fav"}


def _split(value: str) -> list[str]:
    return value.split(LIST_SEPARATOR) if value != "" else []


def _query_text(value: str, path: Path, line: int, column: str) -> str:
    terms = [t for t in value.split(TERM_SEPARATOR)]
    if not terms or any(not t.strip() for t in terms):
        raise EventLogError(path, f"empty query term in {value[:40]!r}; expected term ids "
                            "separated by \\x18", line, column)
    return " ".join(t.strip() for t in terms)


def _parse_line(text: str, path: Path, line: int) -> dict:
    fields = text.rstrip("\r\n").split("\t")
    if len(fields) != len(FIELDS):
        raise EventLogError(path, f"{len(fields)} tab-separated fields; expected "
                            f"{len(FIELDS)}: {', '.join(FIELDS)}", line)
    row = dict(zip(FIELDS, fields))
    query = _query_text(row["query"], path, line, "query")
    candidates = _split(row["candidate_wid_list"])
    raw_labels = _split(row["candidate_label_list"])
    if len(raw_labels) != len(candidates):
        raise EventLogError(path, f"{len(raw_labels)} labels for {len(candidates)} candidates;"
                            " expected one per candidate", line, "candidate_label_list")
    try:
        labels = [float(v) for v in raw_labels]
    except ValueError:
        bad = next(v for v in raw_labels if not _is_float(v))[:20]
        raise EventLogError(path, f"label {bad!r}; expected a number (0, 1, 2, 3)", line,
                            "candidate_label_list") from None
    queries = _split(row["history_qry_list"])
    items = _split(row["history_wid_list"])
    kinds = _split(row["history_type_list"])
    for name, values in (("history_qry_list", queries), ("history_type_list", kinds)):
        if len(values) != len(items):
            raise EventLogError(path, f"{len(values)} entries for {len(items)} history "
                                "products; expected one per product", line, name)
    bad = [k for k in kinds if k not in EVENT_TYPES]
    if bad:
        raise EventLogError(path, f"interaction level {bad[0][:20]!r}; expected one of "
                            f"{', '.join(EVENT_TYPES)}", line, "history_type_list")
    gaps = _split(row["history_time_list"])
    if len(gaps) != len(items) + 1:
        raise EventLogError(path, f"{len(gaps)} time intervals for {len(items)} history "
                            "products; expected one more (the test query's)", line,
                            "history_time_list")
    if not all(g.isdigit() for g in gaps):
        raise EventLogError(path, f"interval {next(g for g in gaps if not g.isdigit())[:20]!r}; "
                            "expected a non-negative integer", line, "history_time_list")
    history_queries = [q if q == NO_QUERY else _query_text(q, path, line, "history_qry_list")
                       for q in queries]
    if any(not i for i in items + candidates):
        column = "history_wid_list" if any(not i for i in items) else "candidate_wid_list"
        raise EventLogError(path, "empty product id; expected ids separated by '_'", line, column)
    return {"query": query, "candidates": candidates, "labels": labels,
            "queries": history_queries, "items": items,
            "kinds": [EVENT_TYPES[k] for k in kinds],
            "times": np.cumsum([int(g) for g in gaps]).tolist()}


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def read_jdsearch(path: str | os.PathLike, max_length: int = DEFAULT_MAX_LENGTH,
                  encoding: str = "utf-8") -> SearchEvents:
    """Read a JDsearch ``release_data.txt`` into search events (rules: module docstring).

    Args:
        path: The file (no header line).
        max_length: History items kept per search (the newest).
        encoding: Text encoding.

    Returns:
        The history searches and test searches of every line, line by line, each line's in time
        order; candidates and labels filled for test searches (empty lists elsewhere).

    Raises:
        EventLogError: The file is missing or a line is malformed (the message names the file,
            line and field).
    """
    _check_args(max_length)
    path = Path(path)
    if not path.is_file():
        raise EventLogError(path, "no such file; expected a JDsearch release_data.txt")
    cols: dict[str, list] = {k: [] for k in (
        "user", "query", "time", "hist", "kinds", "targets", "split", "cands", "labels")}
    no_positive = 0

    def add(user, query, time, hist, kinds, targets, split, cands=(), labels=()):
        for key, value in zip(cols, (user, query, time, hist[-max_length:], kinds[-max_length:],
                                     targets, split, list(cands), list(labels))):
            cols[key].append(value)

    with open(path, encoding=encoding, newline="") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            row = _parse_line(text, path, number)
            user, items, kinds = str(number), row["items"], row["kinds"]
            runs: list[tuple[int, int]] = []
            for i, query in enumerate(row["queries"]):
                if query == NO_QUERY:
                    continue
                if runs and runs[-1][1] == i and row["queries"][runs[-1][0]] == query:
                    runs[-1] = (runs[-1][0], i + 1)
                else:
                    runs.append((i, i + 1))
            for r, (start, end) in enumerate(runs):
                split = "valid" if r == len(runs) - 1 and len(runs) >= 2 else "train"
                add(user, row["queries"][start], row["times"][start], items[:start],
                    kinds[:start], list(dict.fromkeys(items[start:end])), split)
            targets = [c for c, lab in zip(row["candidates"], row["labels"]) if lab > 0]
            if targets:
                add(user, row["query"], row["times"][-1], items, kinds,
                    list(dict.fromkeys(targets)), "test", row["candidates"], row["labels"])
            else:
                no_positive += 1
    if not cols["user"]:
        raise EventLogError(path, "no search: every line lacks both history queries and a "
                            "positively labelled candidate")
    has_candidates = any(cols["cands"])
    metadata = {"source": str(path), "construction": "jdsearch", "max_length": max_length,
                "lines_without_positive_label": no_positive}
    return SearchEvents(cols["user"], cols["query"], np.asarray(cols["time"], dtype=np.int64),
                        cols["hist"], cols["kinds"], cols["targets"], cols["split"],
                        cols["cands"] if has_candidates else [],
                        cols["labels"] if has_candidates else [], metadata)
