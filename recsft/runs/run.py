"""The run folder as an object: :class:`Run` opens, checks and loads what training wrote.

Every command that reads a run goes through it, so every one gets the same promises:

- nothing loads before the manifest is checked: an incomplete run (no manifest), a file whose
  SHA-256 differs from the one recorded, or a file that is a symlink is refused;
- weights come from ``model.safetensors`` only, through recsft's own model classes (never
  ``auto_map`` / ``trust_remote_code``); a folder with only pickled weights is refused with the
  way to convert them;
- the index, popularity and transitions files must hold exactly the tokenizer's items, and the
  tokenizer must have the model's vocabulary size.

Example:
    >>> run = Run.open("runs/demo")                       # doctest: +SKIP
    >>> model, tokenizer = run.model(), run.tokenizer     # doctest: +SKIP
    >>> evaluator = run.evaluator("test")                 # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsft.errors import RunFolderError
from recsft.runs import files as F
from recsft.runs.manifest import Manifest, folder_files

if TYPE_CHECKING:
    from recsft.config import RunConfig
    from recsft.data.config import DataConfig
    from recsft.data.events import EventLog
    from recsft.data.split import SequenceSplits
    from recsft.evaluation.ranking import RankingEvaluator
    from recsft.modeling.transitions import ItemTransitions
    from recsft.retrieval.index import ItemIndex
    from recsft.retrieval.popularity import Popularity
    from recsft.retrieval.recommender import Recommender
    from recsft.tokenization import BehaviorTokenizer



class Run:
    """A complete, checked run folder.

    Attributes:
        path: The folder.
        manifest: Its :class:`~recsft.runs.manifest.Manifest`.
    """

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike, verify: bool = True) -> Run:
        """Open a run folder.

        Args:
            path: The folder ``recsft train`` wrote.
            verify: Check every listed file's SHA-256 (default). ``False`` checks sizes
                and presence only, for callers that have just verified it.

        Raises:
            RunFolderError: not a folder, no manifest (incomplete), a required file missing,
                a file changed or replaced, pickled weights only, or config files asking to run
                code.
        """
        path = Path(path)
        if not path.is_dir():
            raise RunFolderError(f"{path}: no such run folder")
        _refuse_pickled_weights(path)
        manifest = Manifest.load(path, kind="recsft-run")
        missing = [name for name in F.REQUIRED if name not in manifest.files]
        if missing:
            raise RunFolderError(f"{path}/{F.MANIFEST}: does not list {', '.join(missing)}; not "
                                 "a complete run")
        if verify:
            manifest.check_all(path)
        else:
            for name in F.REQUIRED:
                if not (path / name).is_file() or (path / name).is_symlink():
                    raise RunFolderError(f"{path / name}: missing or not a regular file")
        run = cls(path, manifest)
        run._check_model_config()
        return run

    @classmethod
    def seal(cls, path: str | os.PathLike) -> Run:
        """Record a manifest for a run folder written before recsft kept manifests.

        The folder's structure and consistency are checked first (required files, no code
        in configs, tokenizer / model / index / popularity agreeing), then every file is hashed.
        Only do this for a folder you trust.

        Raises:
            RunFolderError: a required file is missing, or the checks fail.
        """
        path = Path(path)
        if not path.is_dir():
            raise RunFolderError(f"{path}: no such run folder")
        _refuse_pickled_weights(path)
        missing = [n for n in F.REQUIRED if not (path / n).is_file() or (path / n).is_symlink()]
        if missing:
            raise RunFolderError(f"{path}: cannot seal, missing {', '.join(missing)}")
        names = folder_files(path)
        provisional = Manifest.build(path, "recsft-run", {}, names)
        run = cls(path, provisional)
        run._check_model_config()
        run.check_consistency()
        manifest = Manifest.build(path, "recsft-run", run.summary(), names)
        manifest.save(path)
        run.manifest = manifest
        return run

    # ------------------------------------------------------------------ what it holds

    @functools.cached_property
    def model_config(self) -> dict[str, Any]:
        """``config.json`` as a dict (checked: no code references, a known model type)."""
        return self._check_model_config()

    @functools.cached_property
    def config(self) -> RunConfig:
        """The resolved run config (``run_config.yaml``)."""
        from recsft.config import RunConfig

        return RunConfig.from_yaml(self.path / F.RUN_CONFIG)

    @functools.cached_property
    def tokenizer(self) -> BehaviorTokenizer:
        """The run's tokenizer, checked against the model's vocabulary size."""
        from recsft.modeling.factory import refuse_code
        from recsft.tokenization import BehaviorTokenizer

        refuse_code(self.path / F.TOKENIZER_CONFIG, _read_json(self.path / F.TOKENIZER_CONFIG))
        try:
            tokenizer = BehaviorTokenizer.from_pretrained(str(self.path))
        except Exception as err:  # the tokenizers library raises its own exception types
            raise RunFolderError(f"{self.path / F.TOKENIZER}: cannot be loaded as a recsft "
                                 f"tokenizer ({_one_line(err)})") from None
        vocab = self.model_config["vocab_size"]
        if len(tokenizer) != vocab:
            raise RunFolderError(f"{self.path / F.TOKENIZER}: {len(tokenizer)} tokens, but the "
                                 f"model in {F.MODEL_CONFIG} has vocab_size {vocab}; not the "
                                 "same run")
        return tokenizer

    @property
    def metrics(self) -> dict[str, Any]:
        """``metrics.json``."""
        return _read_json(self.path / F.METRICS)

    @property
    def model_sha256(self) -> str:
        """SHA-256 of ``model.safetensors``, as recorded in the manifest."""
        return self.manifest.files[F.WEIGHTS]["sha256"]

    def model(self) -> Any:
        """The model, from ``model.safetensors`` only, in eval mode.

        Raises:
            RunFolderError: the weights cannot be read or do not fit the config.
        """
        from recsft.modeling.factory import load_model

        self.model_config  # noqa: B018 (no code references, a known model type)
        model = load_model(self.path)
        config = model.config
        if getattr(config, "num_categories", 0):
            from recsft.data.categories import check_category_table
            from recsft.modeling.layers import ItemCategories

            for module in model.modules():
                if isinstance(module, ItemCategories):
                    check_category_table(module.table.cpu(), config.vocab_size,
                                         config.num_categories, config.max_item_categories,
                                         config.first_item_id, source=self.path / F.WEIGHTS)
        return model.eval()

    def index(self, index_dir: str | os.PathLike | None = None) -> ItemIndex:
        """The FAISS item index (the run's own, or one built for it in ``index_dir``).

        Raises:
            RunFolderError: its ids differ from the tokenizer's items, or an index folder was
                built from another model.
        """
        from recsft.retrieval.index import ItemIndex

        folder = self.path if index_dir is None else Path(index_dir)
        if index_dir is not None and folder.resolve() != self.path.resolve():
            manifest = Manifest.load(folder, kind="recsft-index")
            manifest.check_all(folder)
            if manifest.info.get("model_sha256") != self.model_sha256:
                raise RunFolderError(f"{folder}: this index was built from another model "
                                     f"(run {manifest.info.get('run', '?')}), not from "
                                     f"{self.path}")
        index = ItemIndex.load(folder)
        index.check_ids(self.tokenizer.item_ids)
        return index

    def popularity(self) -> Popularity:
        """Training interactions per item (``item_popularity.json``), ids checked."""
        from recsft.retrieval.popularity import Popularity

        popularity = Popularity.load(self.path)
        if popularity is None:
            raise RunFolderError(f"{self.path / F.POPULARITY}: missing")
        popularity.check_ids(self.tokenizer.item_ids)
        return popularity

    def transitions(self) -> ItemTransitions:
        """The item transitions ``recsft transitions`` fitted (checked, sized to the items).

        Raises:
            RunFolderError: none were fitted, or they cover another number of items.
        """
        from recsft.modeling.transitions import ItemTransitions

        if F.TRANSITIONS not in self.manifest.files:
            raise RunFolderError(f"{self.path}: no item transitions; fit them with "
                                 f"'recsft transitions --run {self.path}'")
        chain = ItemTransitions.load(str(self.path))
        chain.check_items(self.tokenizer.num_items, self.path / F.TRANSITIONS)
        return chain

    def recommender(self, index_dir: str | os.PathLike | None = None,
                    transitions: bool = False) -> Recommender:
        """A :class:`~recsft.retrieval.recommender.Recommender` over this run (its model,
        tokenizer, index — or one built for it in ``index_dir`` —, popularity, and with
        ``transitions`` its item transitions)."""
        from recsft.retrieval.recommender import Recommender

        chain = self.transitions() if transitions else None
        content = (self.content_scorer() if chain is not None and chain.settings.content_weight
                   else None)
        return Recommender(self.model(), self.tokenizer, self.index(index_dir),
                           popularity=self.popularity(), transitions=chain, content=content)

    def content_scorer(self) -> Any:
        """The text similarity of this run's items to a history
        (:class:`~recsft.scoring.content.ContentScorer`, the vectors through the text cache),
        or ``None`` when its config gives items no text (``data.item_table`` and
        ``data.item_text``)."""
        from recsft.runs.data import content_baselines

        return content_baselines(self.config, self.tokenizer).get("content")

    def category_names(self) -> list[str] | None:
        """Names of category ids ``1..n`` (``categories.json``) for models with categories."""
        from recsft.data.categories import read_category_names

        if F.CATEGORIES not in self.manifest.files:
            return None
        return read_category_names(self.path / F.CATEGORIES,
                                   self.model_config.get("num_categories") or None)

    # ------------------------------------------------------------------ data

    def events(self, data: DataConfig | None = None) -> EventLog:
        """The cleaned events the run was split from (saved with the run; read from the source
        for a run without them), or those of another ``data`` section (transfer)."""
        from recsft.runs.data import load_log

        if data is not None:
            return load_log(self._with_data(data))
        return self._events

    @functools.cached_property
    def _events(self) -> EventLog:
        from recsft.runs.data import load_log, read_events

        saved = (read_events(self.path) if F.DATA_INFO in self.manifest.files
                 and (self.path / F.DATA_INFO).is_file() else None)
        return saved if saved is not None else load_log(self.config)

    def splits(self, data: DataConfig | None = None) -> SequenceSplits:
        """The run's splits (or another data section's, split the same way)."""
        from recsft.runs.data import split_log

        if data is not None:
            return split_log(self._with_data(data), self.events(data))
        return self._splits

    @functools.cached_property
    def _splits(self) -> SequenceSplits:
        from recsft.runs.data import read_cold_items, split_log

        return split_log(self.config, self._events, read_cold_items(self.path))

    def evaluator(self, split: str = "test", data: DataConfig | None = None
                  ) -> RankingEvaluator:
        """The trainer's evaluator on ``split`` (``"test"`` or ``"valid"``), with training
        item counts and categories set for beyond-accuracy metrics.

        Raises:
            RunFolderError: an unknown split.
        """
        from recsft.runs.data import build_evaluator, catalogue_categories, train_item_counts

        if split not in ("test", "valid"):
            raise RunFolderError(f"unknown split '{split}'; expected 'test' or 'valid'")
        config = self.config if data is None else self._with_data(data)
        splits = self.splits(data)
        evaluator = build_evaluator(config, getattr(splits, split), self.tokenizer,
                                    splits.protocol, self.model_config)
        evaluator.item_counts = train_item_counts(splits.train.items, self.tokenizer)
        evaluator.item_categories = catalogue_categories(config, self.events(data),
                                                         self.tokenizer)
        return evaluator

    def _with_data(self, data: DataConfig) -> RunConfig:
        import dataclasses

        return dataclasses.replace(self.config, data=data)

    # ------------------------------------------------------------------ checks and updates

    def check_consistency(self) -> None:
        """Check every id-bearing file against the tokenizer (index, popularity, transitions).

        Raises:
            RunFolderError: naming the first file that disagrees.
        """
        self.tokenizer  # noqa: B018 (vocabulary size checked on load)
        self.index()
        self.popularity()
        if F.TRANSITIONS in self.manifest.files:
            self.transitions()
        self.category_names()

    def summary(self) -> dict[str, Any]:
        """What the manifest records about the run beyond its files."""
        return {"model_type": self.model_config["model_type"],
                "vocab_size": self.model_config["vocab_size"],
                "num_items": self.tokenizer.num_items}

    def _check_model_config(self) -> dict[str, Any]:
        from recsft.modeling.factory import read_model_config

        path = self.path / F.MODEL_CONFIG
        config = read_model_config(self.path)
        vocab = config.get("vocab_size")
        if not isinstance(vocab, int) or isinstance(vocab, bool) or vocab < 1:
            raise RunFolderError(f"{path}: field 'vocab_size' must be a positive integer")
        recorded = self.manifest.info.get("vocab_size")
        if recorded is not None and recorded != vocab:
            raise RunFolderError(f"{path}: vocab_size {vocab}, but {F.MANIFEST} records "
                                 f"{recorded}")
        self.__dict__["model_config"] = config
        return config


def _refuse_pickled_weights(path: Path) -> None:
    if (path / F.WEIGHTS).exists():
        return
    pickled = [name for name in F.PICKLED_WEIGHTS if (path / name).exists()]
    if pickled:
        raise RunFolderError(
            f"{path / pickled[0]}: pickled weights, which can run code when loaded; recsft "
            "loads model.safetensors only. Convert them on a machine where you trust the "
            "file: python -c \"import torch, safetensors.torch as s; s.save_file(torch.load("
            f"'{pickled[0]}', weights_only=True), 'model.safetensors')\"")


def _read_json(path: Path) -> Any:
    from recsft.fileio import read_json

    if path.is_symlink():
        raise RunFolderError(f"{path}: a symlink; expected a regular file")
    return read_json(path, "run file", RunFolderError)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:300] + ("..." if len(text) > 300 else "")
