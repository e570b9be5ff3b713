"""Named public datasets: where they come from, their terms, and their published statistics.

None of these datasets is shipped with recsft (their terms forbid redistribution). A name is
found (:func:`locate`) in, in order: the ``path`` given (``data.path``, ``--path``); a folder of
that name under ``$RECSFT_DATA_DIR`` (one or more folders, separated by ``os.pathsep``, holding
local copies by name); the download cache (``$RECSFT_CACHE/datasets`` or
``~/.cache/recsft/datasets``). Failing all three, the files are downloaded into the cache with
:mod:`pooch` (progress bar, SHA-256 checked where it is pinned, each file written under a
temporary name and renamed only once complete and checked); without internet that stops with
one line naming the dataset, the address and the local alternatives. Every dataset's
preparation is checked against the statistics its paper published, where they exist.

Example:
    >>> from recsft.data.registry import load_named_dataset, compare_with_published
    >>> log = load_named_dataset("amazon-beauty")  # RECSFT_DATA_DIR=../shared/data, or cached
    >>> compare_with_published("amazon-beauty", log.stats())["matches"]
    True
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsft.data.events import EventLog
from recsft.data.readers import read_events
from recsft.data.readers.lines import clip
from recsft.errors import RecsftError
from recsft.fileio import cache_root, temporary_folder

#: Folders holding local copies of the named datasets, one sub-folder per name.
DATA_DIR_VARIABLE = "RECSFT_DATA_DIR"


class DatasetNotAvailable(RecsftError):
    """A named dataset is neither in the given path, ``$RECSFT_DATA_DIR`` nor the cache, and
    cannot be fetched (offline, a failed download, a digest that does not match, or a dataset
    that needs a manual download)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file to download.

    Attributes:
        url: Download address.
        filename: Name of the file in the dataset folder (a zip is unpacked there).
        sha256: Expected SHA-256 of the downloaded bytes, or ``None`` when not pinned (then the
            digest is computed, printed and recorded on first download).
    """

    url: str
    filename: str
    sha256: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset.

    Attributes:
        name: Registry name.
        description: One line.
        events_file: Path of the event file inside the dataset folder.
        format: Reader format (see :func:`recsft.data.events.read_events`).
        remote: Files to download; empty when the source needs a manual download (login).
        homepage: Where the dataset is described.
        license: Terms of use, in short.
        citation: What to cite.
        published: Published statistics of this version (users / items / interactions), when
            they exist, and where they were published.
        columns: Column mapping for table formats.
        manual: Instructions when the files cannot be downloaded automatically.
        item_table: Path of the dataset's item table (item text) inside its folder, for
            ``data.item_table`` (:func:`locate_item_table`); empty when it has none.
        item_text: The template (or column) that builds each item's text from ``item_table``,
            for ``data.item_text``.
    """

    name: str
    description: str
    events_file: str
    format: str
    remote: tuple[RemoteFile, ...] = ()
    homepage: str = ""
    license: str = ""
    citation: str = ""
    published: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    manual: str = ""
    item_table: str = ""
    item_text: str = ""


_S3REC = (
    "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/"
    "2a81540ae18615d88ef88227b0c066e5b74781e5/data"
)
_BERT4REC = (
    "https://raw.githubusercontent.com/FeiSun/BERT4Rec/615eaf2004abecda487a38d5b0c72f3dcfcae5b3/data"
)
_RECBOLE_ML100K = (
    "https://raw.githubusercontent.com/RUCAIBox/RecBole/v1.2.1/recbole/dataset_example/ml-100k"
)
_GROUPLENS = "https://files.grouplens.org/datasets/movielens"
_AMAZON_TERMS = (
    "Amazon review data (J. McAuley, UCSD): research use only, do not redistribute; cite "
    "McAuley et al. SIGIR 2015 and He & McAuley WWW 2016"
)
_MOVIELENS_TERMS = (
    "GroupLens MovieLens terms: research use, no redistribution, no commercial use without "
    "permission; cite Harper & Konstan, TiiS 2015"
)
_S3REC_CITE = "Zhou et al., S3-Rec, CIKM 2020 (preprocessed 5-core version)"


def _s3rec(name: str, stem: str, users: int, items: int, interactions: int) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        description=f"Amazon {stem.replace('_', ' ')}, S3-Rec 5-core version (order only)",
        events_file=f"{stem}.txt",
        format="s3rec",
        remote=(RemoteFile(f"{_S3REC}/{stem}.txt", f"{stem}.txt"),
                RemoteFile(f"{_S3REC}/{stem}_item2attributes.json",
                           f"{stem}_item2attributes.json")),
        homepage="https://github.com/RUCAIBox/CIKM2020-S3Rec",
        license=_AMAZON_TERMS,
        citation=_S3REC_CITE,
        published={"users": users, "items": items, "interactions": interactions,
                   "source": "S3-Rec paper (CIKM 2020), Table 1"},
    )


REGISTRY: dict[str, DatasetSpec] = {
    "ml-100k": DatasetSpec(
        name="ml-100k",
        description="MovieLens 100K ratings with timestamps (RecBole atomic files)",
        events_file="ml-100k.inter",
        format="recbole",
        remote=(
            RemoteFile(f"{_RECBOLE_ML100K}/ml-100k.inter", "ml-100k.inter",
                       "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"),
            RemoteFile(f"{_RECBOLE_ML100K}/ml-100k.item", "ml-100k.item",
                       "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"),
            RemoteFile(f"{_RECBOLE_ML100K}/ml-100k.user", "ml-100k.user",
                       "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"),
        ),
        homepage="https://grouplens.org/datasets/movielens/100k/",
        license=_MOVIELENS_TERMS,
        citation="Harper & Konstan, The MovieLens Datasets, TiiS 2015",
        published={"users": 943, "items": 1682, "interactions": 100000,
                   "source": "GroupLens README"},
        item_table="ml-100k.item",
        item_text="{movie_title} ({release_year}). {class}",
    ),
    "ml-1m": DatasetSpec(
        name="ml-1m",
        description="MovieLens 1M ratings with timestamps (original GroupLens files)",
        events_file="ml-1m/ratings.dat",
        format="movielens",
        remote=(RemoteFile(f"{_GROUPLENS}/ml-1m.zip", "ml-1m.zip"),),
        homepage="https://grouplens.org/datasets/movielens/1m/",
        license=_MOVIELENS_TERMS,
        citation="Harper & Konstan, The MovieLens Datasets, TiiS 2015",
        published={"users": 6040, "items": 3706, "interactions": 1000209,
                   "source": "GroupLens README (3,706 movies rated)"},
        item_table="movies.dat",
        item_text="{title}. {genres}",
    ),
    "ml-20m": DatasetSpec(
        name="ml-20m",
        description="MovieLens 20M ratings with timestamps (original GroupLens files)",
        events_file="ml-20m/ratings.csv",
        format="csv",
        columns={"user_id": "userId", "item_id": "movieId", "timestamp": "timestamp"},
        remote=(RemoteFile(f"{_GROUPLENS}/ml-20m.zip", "ml-20m.zip"),),
        homepage="https://grouplens.org/datasets/movielens/20m/",
        license=_MOVIELENS_TERMS,
        citation="Harper & Konstan, The MovieLens Datasets, TiiS 2015",
        published={"users": 138493, "items": 26744, "interactions": 20000263,
                   "source": "GroupLens README"},
    ),
    "amazon-beauty": DatasetSpec(
        name="amazon-beauty",
        description="Amazon Beauty, S3-Rec 5-core version (order only), with attribute ids",
        events_file="Beauty.txt",
        format="s3rec",
        remote=(
            RemoteFile(f"{_S3REC}/Beauty.txt", "Beauty.txt",
                       "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8"),
            RemoteFile(f"{_S3REC}/Beauty_item2attributes.json", "Beauty_item2attributes.json",
                       "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4"),
        ),
        homepage="https://github.com/RUCAIBox/CIKM2020-S3Rec",
        license=_AMAZON_TERMS,
        citation=_S3REC_CITE,
        published={"users": 22363, "items": 12101, "interactions": 198502,
                   "source": "S3-Rec paper (CIKM 2020), Table 1"},
    ),
    "amazon-sports": _s3rec("amazon-sports", "Sports_and_Outdoors", 35598, 18357, 296337),
    "amazon-toys": _s3rec("amazon-toys", "Toys_and_Games", 19412, 11924, 167597),
    "amazon-beauty-bert4rec": DatasetSpec(
        name="amazon-beauty-bert4rec",
        description="Amazon Beauty, BERT4Rec version (users with >= 5 events, all items)",
        events_file="beauty.txt",
        format="sasrec",
        remote=(RemoteFile(f"{_BERT4REC}/beauty.txt", "beauty.txt",
                           "f480b7a7403852342ffd8f9809bb30697dd669be31813d0e204b698fec86ef49"),),
        homepage="https://github.com/FeiSun/BERT4Rec",
        license=_AMAZON_TERMS,
        citation="Sun et al., BERT4Rec, CIKM 2019",
        published={"users": 40226, "items": 54542, "interactions": 353962,
                   "source": "BERT4Rec paper (CIKM 2019), Table 1"},
    ),
    "yelp": DatasetSpec(
        name="yelp",
        description="Yelp, S3-Rec version (order only)",
        events_file="Yelp.txt",
        format="s3rec",
        remote=(RemoteFile(f"{_S3REC}/Yelp.txt", "Yelp.txt"),
                RemoteFile(f"{_S3REC}/Yelp_item2attributes.json", "Yelp_item2attributes.json")),
        homepage="https://www.yelp.com/dataset",
        license="Yelp Dataset terms: academic, non-commercial use; no redistribution",
        citation=_S3REC_CITE,
        published={"users": 30431, "items": 20033, "interactions": 316354,
                   "source": "S3-Rec paper (CIKM 2020), Table 1"},
    ),
    "steam": DatasetSpec(
        name="steam",
        description="Steam reviews, BERT4Rec version (order only)",
        events_file="steam.txt",
        format="sasrec",
        remote=(RemoteFile(f"{_BERT4REC}/steam.txt", "steam.txt"),),
        homepage="https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data",
        license="UCSD Steam data: research use; cite Kang & McAuley, ICDM 2018",
        citation="Kang & McAuley, SASRec, ICDM 2018; Sun et al., BERT4Rec, CIKM 2019",
        published={"users": 281428, "items": 13044,
                   "source": "BERT4Rec paper (CIKM 2019), Table 1 (interactions given as 3.5M)"},
    ),
    "retailrocket": DatasetSpec(
        name="retailrocket",
        description="RetailRocket e-commerce events: view / addtocart / transaction",
        events_file="events.csv",
        format="retailrocket",
        homepage="https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset",
        license="CC BY-NC-SA 4.0 (Kaggle page)",
        citation="Retailrocket recommender system dataset, Kaggle 2016",
        manual="download events.csv from the Kaggle page (needs a login) and pass its folder "
        "as --path",
    ),
    "taobao": DatasetSpec(
        name="taobao",
        description="Taobao UserBehavior: pv / cart / fav / buy of ~1M users over 9 days",
        events_file="UserBehavior.csv",
        format="taobao",
        homepage="https://tianchi.aliyun.com/dataset/649",
        license="Alibaba Tianchi dataset terms: research use, do not redistribute",
        citation="Zhu et al., Learning Tree-based Deep Model for Recommender Systems, KDD 2018",
        published={"users": 987994, "items": 4162024, "interactions": 100150807,
                   "source": "Tianchi dataset page"},
        manual="download UserBehavior.csv from the Tianchi page (needs a login) and pass its "
        "folder as --path",
    ),
    "taobao-sample": DatasetSpec(
        name="taobao-sample",
        description="The first 84,475 rows of Taobao UserBehavior (815 users, complete "
        "histories but the last user's)",
        events_file="UserBehavior_head.csv",
        format="taobao",
        homepage="https://tianchi.aliyun.com/dataset/649",
        license="Alibaba Tianchi dataset terms: research use, do not redistribute",
        citation="Zhu et al., Learning Tree-based Deep Model for Recommender Systems, KDD 2018",
        manual="download UserBehavior.csv from the Tianchi page (needs a login), keep its first "
        "84,475 lines (head -n 84475 UserBehavior.csv > UserBehavior_head.csv; SHA-256 "
        "e3013a3a225cf384b66dbbd7557f50829f28bd0de2555e31604eef6891ffa0c7) and pass its folder "
        "as --path",
    ),
    "movielens-1m-half": DatasetSpec(
        name="movielens-1m-half",
        description="MovieLens 1M, the ratings of users 1-2,999 only (the first 487,650 lines "
        "of the original ratings.dat), with movie titles and genres",
        events_file="ratings_users1-2999.dat.gz",
        format="movielens",
        homepage="https://grouplens.org/datasets/movielens/1m/",
        license=_MOVIELENS_TERMS,
        citation="Harper & Konstan, The MovieLens Datasets, TiiS 2015",
        published={"users": 2999, "interactions": 487650,
                   "source": "the first 487,650 lines of the GroupLens ml-1m ratings.dat"},
        manual="not downloadable as such: from the GroupLens ml-1m.zip keep movies.dat and the "
        "first 487,650 lines of ratings.dat (head -n 487650 ratings.dat | gzip > "
        "ratings_users1-2999.dat.gz) in one folder and point $RECSFT_DATA_DIR (its "
        "movielens-1m-half sub-folder) or --path at it",
        item_table="movies.dat",
        item_text="{title}. {genres}",
    ),
    "amazon-scientific": DatasetSpec(
        name="amazon-scientific",
        description="Amazon Industrial & Scientific, UniSRec downstream version (order only), "
        "with item text (title, categories, brand)",
        events_file="Scientific.test.inter",
        format="recbole",
        homepage="https://github.com/RUCAIBox/UniSRec",
        license="Amazon Reviews 2018 (J. McAuley, UCSD): research use only, do not "
        "redistribute; cite Ni, Li & McAuley, EMNLP 2019 and Hou et al., UniSRec, KDD 2022",
        citation="Ni, Li & McAuley, EMNLP 2019; Hou et al., UniSRec, KDD 2022",
        published={"users": 8442, "items": 4385, "interactions": 59427,
                   "source": "UniSRec paper (KDD 2022), Table 1",
                   "recoverable": {"interactions": 59384},
                   "note": "the released files keep each user's newest 50 history items, so "
                   "59,384 of the 59,427 interactions can be read back"},
        manual="not downloadable from a pinned address: copy the UniSRec release's "
        "Scientific.{train,valid,test}.inter, .text, .item2index and .user2index (e.g. from "
        "RUCAIBox/UniSRec's downstream data) into one folder and point data.path (--path) or "
        "$RECSFT_DATA_DIR (its amazon-scientific sub-folder) at it",
        item_table="Scientific.text",
        item_text="text",
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The spec of a named dataset.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset '{name}'; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def default_cache_dir() -> Path:
    """``$RECSFT_CACHE`` or ``~/.cache/recsft``, the folder datasets are downloaded into."""
    return cache_root() / "datasets"


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def data_dirs() -> list[Path]:
    """The folders of ``$RECSFT_DATA_DIR`` (``os.pathsep``-separated; empty when unset)."""
    value = os.environ.get(DATA_DIR_VARIABLE, "")
    return [Path(part) for part in value.split(os.pathsep) if part.strip()]


def locate(name: str, path: str | os.PathLike | None = None, cache_dir: Path | None = None,
           download: bool = True, progressbar: bool = True) -> Path:
    """Find (or download) the event file of a named dataset.

    Args:
        name: Registry name.
        path: A local copy: the dataset folder, or the event file itself.
        cache_dir: Download folder (default :func:`default_cache_dir`).
        download: Fetch the files when they are not found locally.
        progressbar: Show a progress bar while downloading.

    Returns:
        The path of the event file: in ``path``, else in ``$RECSFT_DATA_DIR/<name>``, else in
        the cache (downloaded there when missing).

    Raises:
        DatasetNotAvailable: ``path`` or a ``$RECSFT_DATA_DIR/<name>`` folder without the event
            file, or not found and not downloadable (offline, manual download, bad digest).
    """
    spec = get_spec(name)
    if path is not None:
        candidate = Path(path)
        if candidate.is_file():
            return candidate
        inside = candidate / spec.events_file
        if inside.is_file():
            return inside
        raise DatasetNotAvailable(
            f"{candidate}: no '{spec.events_file}' for dataset '{name}' there; expected the "
            f"dataset folder or the event file itself"
        )
    for root in data_dirs():
        local = root / name
        if (local / spec.events_file).is_file():
            return local / spec.events_file
        if local.exists():
            raise DatasetNotAvailable(
                f"{local}: no '{spec.events_file}' for dataset '{name}' there (found through "
                f"${DATA_DIR_VARIABLE}); expected the dataset's files in that folder")
    folder = (cache_dir or default_cache_dir()) / name
    events = folder / spec.events_file
    if events.is_file():
        return events
    elsewhere = (f"put its files in ${DATA_DIR_VARIABLE}/{name}/ or pass their folder as "
                 "data.path (--path)")
    if not spec.remote:
        raise DatasetNotAvailable(f"dataset '{name}' must be downloaded by hand: {spec.manual} "
                                  f"(or {elsewhere})")
    if not download:
        raise DatasetNotAvailable(f"dataset '{name}' is not in {folder}; {elsewhere}, or allow "
                                  "the download")
    fetch(spec, folder, progressbar=progressbar)
    if not events.is_file():
        raise DatasetNotAvailable(f"{folder}: the download did not contain {spec.events_file}")
    return events


def fetch(spec: DatasetSpec, folder: Path, progressbar: bool = True) -> None:
    """Download a dataset's files into ``folder`` with :mod:`pooch`, check their digests,
    unpack zips.

    Each file is downloaded to a temporary name in ``folder`` and renamed only once complete
    and verified; a zip is unpacked into a temporary folder whose entries are then moved in, so
    an interrupted download or unpacking never leaves a file that looks complete. A file
    already there is kept when it matches its pinned digest (downloaded again otherwise).

    Raises:
        DatasetNotAvailable: a download failed (offline?) or a digest does not match.
    """
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for remote in spec.remote:
            target = folder / remote.filename
            new = not target.exists()
            if new or remote.sha256:
                _download(remote, folder, spec.name, progressbar)
            if new and not remote.sha256:
                print(f"{remote.filename}: sha256 {sha256_of(target)} (not pinned in the "
                      "registry)")
            if target.suffix == ".zip":
                _unpack(target, folder)
    except DatasetNotAvailable:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # made for this download, which left nothing
        raise


def _download(remote: RemoteFile, folder: Path, name: str, progressbar: bool) -> None:
    """One file through :func:`pooch.retrieve` (temporary name, digest check, rename)."""
    import pooch
    import requests

    known = f"sha256:{remote.sha256}" if remote.sha256 else None
    downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=60)
    try:
        pooch.retrieve(remote.url, known, fname=remote.filename, path=folder,
                       downloader=downloader)
    except ValueError as err:
        if "hash" not in str(err).lower():
            raise DatasetNotAvailable(f"cannot download dataset '{name}' from {remote.url} "
                                      f"({str(err)[:200]})") from err
        raise DatasetNotAvailable(
            f"{remote.url}: the SHA-256 of the download does not match the pinned "
            f"{remote.sha256}; the file was not kept (dataset '{name}')") from None
    except (requests.RequestException, OSError) as err:
        reason = clip(" ".join(str(err).split()), 160)
        raise DatasetNotAvailable(
            f"cannot download dataset '{name}' from {remote.url} ({type(err).__name__}: "
            f"{reason}); without internet, download it elsewhere and put its files in "
            f"${DATA_DIR_VARIABLE}/{name}/ or pass their folder as data.path (--path)"
        ) from None


def _unpack(archive: Path, folder: Path) -> None:
    """Unpack a zip beside it: into a temporary folder, then each new entry renamed in."""
    work = temporary_folder(folder, archive.stem)
    try:
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(work)
        for entry in work.iterdir():
            if not (folder / entry.name).exists():
                os.replace(entry, folder / entry.name)
    except (zipfile.BadZipFile, OSError) as err:
        raise DatasetNotAvailable(f"{archive}: cannot unpack ({err}); remove it to download "
                                  "it again") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def load_named_dataset(name: str, path: str | os.PathLike | None = None,
                       cache_dir: Path | None = None, download: bool = True) -> EventLog:
    """Read a named dataset with its own reader (see :func:`locate` for the arguments)."""
    spec = get_spec(name)
    events = locate(name, path, cache_dir, download)
    return read_events(events, format=spec.format, columns=spec.columns or None)


def locate_item_table(name: str, path: str | os.PathLike | None = None,
                      cache_dir: Path | None = None) -> Path | None:
    """The item table (item text) of a named dataset, beside its event file.

    Args:
        name: Registry name.
        path: A local copy (see :func:`locate`).
        cache_dir: Download folder (see :func:`locate`).

    Returns:
        The path of ``spec.item_table`` in the folder holding the event file (for
        ``data.item_table``, with ``spec.item_text`` as ``data.item_text``); ``None`` when the
        dataset has no item table.

    Raises:
        DatasetNotAvailable: the dataset is not found (see :func:`locate`; nothing is
            downloaded), or its folder lacks the item table.
    """
    spec = get_spec(name)
    if not spec.item_table:
        return None
    table = locate(name, path, cache_dir, download=False).parent / spec.item_table
    if not table.is_file():
        raise DatasetNotAvailable(f"{table.parent}: no '{spec.item_table}' (the item table of "
                                  f"dataset '{name}') there; expected it beside the events")
    return table


def compare_with_published(name: str, stats: dict[str, int]) -> dict[str, Any]:
    """Compare measured users / items / interactions with the published figures.

    A figure matches when it equals the published one or, where the registry records one in
    ``published["recoverable"]``, the count the released files can give back (Amazon-Scientific:
    59,384 of the 59,427 published interactions, its histories being cut to the newest 50).

    Returns:
        ``{"published": ..., "measured": ..., "matches": bool | None, "differences": {key:
        measured - published}}`` (``matches`` ``None`` when nothing was published;
        ``differences`` lists the figures that are not the published ones, recoverable or not).
    """
    published = get_spec(name).published
    keys = [k for k in ("users", "items", "interactions") if k in published]
    if not keys:
        return {"published": None, "measured": stats, "matches": None, "differences": {}}
    recoverable = published.get("recoverable", {})
    return {
        "published": published,
        "measured": stats,
        "matches": all(stats.get(k) in (published[k], recoverable.get(k, published[k]))
                       for k in keys),
        "differences": {k: stats[k] - published[k] for k in keys
                        if k in stats and stats[k] != published[k]},
    }
