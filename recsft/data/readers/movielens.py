"""MovieLens: ``ratings.dat`` (1M, ``::``-separated) and ``u.data`` (100K, tab-separated)
ratings, and their item tables ``movies.dat`` and ``u.item``. Ratings are not kept."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from recsft.data.events import EventLogError
from recsft.data.readers.columns import finish
from recsft.data.readers.common import ReadRequest, ReadResult, event_map
from recsft.data.readers.delimited import read_delimited
from recsft.data.readers.lines import base_name, first_line, iter_lines, read_bytes

#: The genre flags of MovieLens 100K's ``u.item``, in order (used when ``u.genre`` is absent).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
#: MovieLens 100K's rating files: ``u.data``, ``u1.base`` ... ``ub.test``.
MOVIELENS_SPLIT = re.compile(r"u[0-9ab]?\.(data|base|test)")
ML_RATINGS_LAYOUT = ["user_id", "item_id", "rating", "timestamp"]


def read_movielens(request: ReadRequest, encoding: str, unit: str) -> ReadResult:
    """``u.data`` (tab-separated) or ``ratings.dat`` (``::``-separated), no header."""
    path = request.path
    layout = list(ML_RATINGS_LAYOUT)
    columns = {"user_id": "user_id", "item_id": "item_id", "timestamp": "timestamp"}
    if MOVIELENS_SPLIT.fullmatch(base_name(path)):  # MovieLens 100K: tab-separated
        table, where, names = read_delimited(path, fmt="movielens", delimiter="\t",
                                             encoding=encoding, user_columns=columns,
                                             layout=layout, quoting=False)
    else:  # ratings.dat: '::'-separated; pyarrow takes one-character delimiters
        first_line(path, encoding)
        data = read_bytes(path).replace(b"::", b"\t")
        table, where, names = read_delimited(
            path, fmt="movielens", delimiter="\t", encoding=encoding, user_columns=columns,
            layout=layout, quoting=False, data=data, split=lambda s: s.split("::"),
            file_delimiter="::",
        )
    mapping = event_map(request, names)
    frame = finish(table, where, unit, mapping)
    return ReadResult(frame, names, mapping, encoding=encoding, timestamp_unit=unit)


def movielens_items_beside(path: Path) -> Path | None:
    """``u.item`` beside MovieLens 100K's ratings, ``movies.dat(.gz)`` beside 1M's."""
    if MOVIELENS_SPLIT.fullmatch(base_name(path)):
        candidates = [path.with_name("u.item")]
    else:
        candidates = [path.with_name("movies.dat"), path.with_name("movies.dat.gz")]
    return next((candidate for candidate in candidates if candidate.exists()), None)


def read_ml1m_movies(path: Path, encoding: str) -> pd.DataFrame:
    """``movies.dat``: ``MovieID::Title::Genres``."""
    rows = []
    for number, text in iter_lines(path, encoding, ["item_id", "title", "genres"], "::"):
        if not text.strip():
            continue
        fields = text.split("::")
        if len(fields) != 3:
            raise EventLogError(path, f"expected 3 fields (item_id, title, genres), found "
                                      f"{len(fields)}", line=number)
        rows.append(fields)
    if not rows:
        raise EventLogError(path, "the file is empty; expected at least one item")
    return pd.DataFrame(rows, columns=["item_id", "title", "genres"])


def read_ml100k_items(path: Path, encoding: str) -> pd.DataFrame:
    """``u.item``: id, title, release date, video date, URL and 19 genre flags (named by
    ``u.genre`` beside it when present)."""
    genres = list(ML100K_GENRES)
    genre_file = path.with_name("u.genre")
    if genre_file.exists():
        listed = [t.split("|")[0] for _, t in iter_lines(genre_file, encoding) if t.strip()]
        if len(listed) == len(genres):
            genres = listed
    expected = 5 + len(genres)
    rows = []
    for number, text in iter_lines(path, encoding):
        if not text.strip():
            continue
        fields = text.split("|")
        if len(fields) != expected:
            raise EventLogError(path, f"expected {expected} '|'-separated fields (id, title, "
                                      f"release date, video date, URL, {len(genres)} genre "
                                      f"flags), found {len(fields)}", line=number)
        flags = fields[5:]
        names = "|".join(g for g, flag in zip(genres, flags) if flag.strip() == "1")
        rows.append((fields[0], fields[1], fields[2], names))
    if not rows:
        raise EventLogError(path, "the file is empty; expected at least one item")
    return pd.DataFrame(rows, columns=["item_id", "title", "release_date", "genres"])
