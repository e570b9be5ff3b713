"""Second-stage re-rankers over candidate features: LightGBM lambdarank and a learned linear
fusion, behind one interface (which one to use is left to measurement).

Both are fitted on the candidate features of the *training* split's search events (label 1
for a candidate that is a target of the search, else 0) and stopped / tuned on the
*validation* split's. Groups without any target among their candidates carry no ranking
signal and are left out of fitting (counted in :attr:`Reranker.info`).

Saved as a folder, no pickle: ``reranker.json`` (kind, feature names, feature config, the
fitting summary; the linear fusion's weights) and, for LightGBM, ``lightgbm_model.txt``
(LightGBM's own text model format).

Example:
    >>> ranker = LightGBMReranker(names)
    >>> ranker.fit(X, y, groups, X_valid, y_valid, groups_valid)
    >>> scores = ranker.predict(X_test)          # (n_pairs,) float32, higher is better
    >>> ranker.save("runs/demo/search_reranker")
    >>> ranker = load_reranker("runs/demo/search_reranker")
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recsft.errors import RecsftError

CONFIG_FILE = "reranker.json"
LIGHTGBM_FILE = "lightgbm_model.txt"
FORMAT = "recsft-search-reranker"
FORMAT_VERSION = 1


def _check(x: np.ndarray, y: np.ndarray, groups: np.ndarray, names: Sequence[str],
           what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    groups = np.asarray(groups, dtype=np.int64).reshape(-1)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise RecsftError(f"{what}: features of shape {x.shape}; expected (pairs, "
                          f"{len(names)}) for the feature names")
    if len(y) != len(x) or int(groups.sum()) != len(x) or (groups < 0).any():
        raise RecsftError(f"{what}: {len(x)} feature rows, {len(y)} labels, group sizes "
                          f"summing to {int(groups.sum())}; expected all equal")
    return x, y, groups


def _useful(y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row mask, kept group sizes) of the groups holding a positive."""
    group_of = np.repeat(np.arange(len(groups)), groups)
    positive = np.zeros(len(groups), dtype=bool)
    np.logical_or.at(positive, group_of, y > 0)
    keep = positive & (groups > 0)
    return keep[group_of], groups[keep]


class Reranker:
    """A scorer of candidate-feature rows (subclasses: fit, predict, payload).

    Args:
        feature_names: The columns of the feature matrix, in order.
        feature_config: The :class:`~recsft.search.features.FeatureConfig` as a dict, kept
            with the model so that the features can be rebuilt the same way.

    Attributes:
        info: The fitting summary (groups used, best iteration / weight decay, ...).
    """

    kind = ""

    def __init__(self, feature_names: Sequence[str],
                 feature_config: Mapping[str, Any] | None = None) -> None:
        self.feature_names = [str(n) for n in feature_names]
        self.feature_config = dict(feature_config or {})
        self.info: dict[str, Any] = {}

    def fit(self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, x_valid: np.ndarray,
            y_valid: np.ndarray, groups_valid: np.ndarray) -> Reranker:
        """Fit on training pairs, stop / tune on validation pairs (module doc)."""
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(pairs,)`` float32 scores of ``(pairs, n_features)`` rows, higher is better."""
        raise NotImplementedError

    def _payload(self) -> dict[str, Any]:
        return {}

    def _fitting_pairs(self, x, y, groups, x_valid, y_valid, groups_valid) -> tuple:
        """The training and validation pairs checked, each with the mask of the pairs of
        searches that have a target among their candidates and those searches' group sizes:
        ``((x, y, groups, keep, kept), (x_valid, ...))``.

        Raises:
            RecsftError: bad shapes, or no such search in one of the two.
        """
        out = []
        for rows, what in (((x, y, groups), "training pairs"),
                           ((x_valid, y_valid, groups_valid), "validation pairs")):
            xs, ys, gs = _check(*rows, self.feature_names, what)
            out.append((xs, ys, gs, *_useful(ys, gs)))
        if not len(out[0][4]) or not len(out[1][4]):
            raise RecsftError("re-ranker: no training or no validation search event has a "
                              "target among its candidates; nothing to learn from")
        return tuple(out)

    def _check_predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise RecsftError(f"{self.kind} re-ranker: features of shape {x.shape}; expected "
                              f"(pairs, {len(self.feature_names)})")
        return x

    def save(self, folder: str | os.PathLike) -> None:
        """Write the re-ranker to ``folder`` (created; replaced whole only when it holds a
        saved re-ranker, anything else is refused)."""
        import shutil

        from recsft.fileio import atomic_write_text, swap_in, temporary_folder

        final = Path(folder)
        if final.exists() and (not final.is_dir() or (
                any(final.iterdir()) and not (final / CONFIG_FILE).is_file())):
            raise RecsftError(f"{final} exists and is not a saved search re-ranker; refusing "
                              "to overwrite it (choose a new folder)")
        final.parent.mkdir(parents=True, exist_ok=True)
        work = temporary_folder(final.parent, final.name)
        try:
            meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
                    "feature_names": self.feature_names,
                    "feature_config": self.feature_config, "info": self.info,
                    **self._payload()}
            if isinstance(self, LightGBMReranker):
                atomic_write_text(work / LIGHTGBM_FILE, self.booster.model_to_string())
            atomic_write_text(work / CONFIG_FILE, json.dumps(meta, indent=1))
            swap_in(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise


class LightGBMReranker(Reranker):
    """LightGBM lambdarank (the ``recsft[search]`` extra).

    Args:
        feature_names: Feature columns.
        feature_config: Kept with the model.
        params: LightGBM parameters over the defaults (lambdarank, NDCG@10, 31 leaves,
            learning rate 0.05, one thread, seed 0, deterministic).
        rounds: The most boosting rounds.
        early_stopping: Rounds without a validation NDCG@10 gain before stopping.
    """

    kind = "lightgbm"
    DEFAULTS: dict[str, Any] = {
        "objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "num_leaves": 31,
        "learning_rate": 0.05, "min_data_in_leaf": 5, "num_threads": 1, "seed": 0,
        "deterministic": True, "force_row_wise": True, "verbosity": -1}

    def __init__(self, feature_names: Sequence[str],
                 feature_config: Mapping[str, Any] | None = None,
                 params: Mapping[str, Any] | None = None, rounds: int = 500,
                 early_stopping: int = 30) -> None:
        super().__init__(feature_names, feature_config)
        self.params = {**self.DEFAULTS, **dict(params or {})}
        self.rounds, self.early_stopping = int(rounds), int(early_stopping)
        self.booster: Any = None

    def fit(self, x, y, groups, x_valid, y_valid, groups_valid) -> LightGBMReranker:
        lgb = _lightgbm()
        (x, y, groups, keep, kept), (x_valid, y_valid, groups_valid, keep_valid, kept_valid) = \
            self._fitting_pairs(x, y, groups, x_valid, y_valid, groups_valid)
        train = lgb.Dataset(x[keep], y[keep], group=kept, feature_name=self.feature_names,
                            free_raw_data=False)
        valid = lgb.Dataset(x_valid[keep_valid], y_valid[keep_valid], group=kept_valid,
                            reference=train)
        self.booster = lgb.train(
            self.params, train, num_boost_round=self.rounds, valid_sets=[valid],
            valid_names=["valid"],
            callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)])
        best = self.booster.best_iteration or self.booster.current_iteration()
        score = self.booster.best_score.get("valid", {})
        self.info = {"train_groups": int(len(kept)), "train_groups_without_target":
                     int(len(groups) - len(kept)), "valid_groups": int(len(kept_valid)),
                     "best_iteration": int(best),
                     "valid": {k: float(v) for k, v in score.items()}}
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RecsftError("LightGBM re-ranker: not fitted")
        x = self._check_predict(x)
        if not len(x):
            return np.zeros(0, dtype=np.float32)
        best = self.booster.best_iteration or None
        return np.asarray(self.booster.predict(x, num_iteration=best), dtype=np.float32)

    def _payload(self) -> dict[str, Any]:
        return {"params": self.params, "rounds": self.rounds,
                "early_stopping": self.early_stopping}


class LinearReranker(Reranker):
    """Learned linear fusion: logistic regression on standardised features (missing values
    at the training mean, plus a missing indicator per feature that has any), fitted by
    Newton's method in NumPy; the L2 weight is chosen among ``l2_grid`` by the validation
    log-loss.

    Args:
        feature_names: Feature columns.
        feature_config: Kept with the model.
        l2_grid: Candidate L2 weights (per pair, mean loss).
        iterations: Newton steps (converges in a few for these sizes).
    """

    kind = "linear"

    def __init__(self, feature_names: Sequence[str],
                 feature_config: Mapping[str, Any] | None = None,
                 l2_grid: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0),
                 iterations: int = 30) -> None:
        super().__init__(feature_names, feature_config)
        self.l2_grid = [float(v) for v in l2_grid]
        self.iterations = int(iterations)
        self.mean = self.scale = self.weights = None
        self.indicators: list[int] = []
        self.bias = 0.0

    def _design(self, x: np.ndarray) -> np.ndarray:
        missing = np.isnan(x)
        z = (np.where(missing, self.mean, x) - self.mean) / self.scale
        parts = [z, missing[:, self.indicators].astype(np.float64)]
        return np.concatenate(parts, axis=1)

    def _newton(self, design: np.ndarray, y: np.ndarray, l2: float
                ) -> tuple[np.ndarray, float]:
        d = design.shape[1]
        full = np.concatenate([design, np.ones((len(design), 1))], axis=1)
        w = np.zeros(d + 1)
        penalty = np.full(d + 1, l2)
        penalty[-1] = 0.0
        n = len(full)
        for _ in range(self.iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(full @ w, -30, 30)))
            gradient = full.T @ (p - y) / n + penalty * w
            hessian = (full * (p * (1 - p))[:, None]).T @ full / n + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.abs(step).max() < 1e-7:
                break
        return w[:-1], float(w[-1])

    def fit(self, x, y, groups, x_valid, y_valid, groups_valid) -> LinearReranker:
        (x, y, groups, keep, kept), (x_valid, y_valid, groups_valid, keep_valid, kept_valid) = \
            self._fitting_pairs(x, y, groups, x_valid, y_valid, groups_valid)
        x, y = x[keep].astype(np.float64), y[keep].astype(np.float64)
        x_valid, y_valid = x_valid[keep_valid].astype(np.float64), y_valid[keep_valid]
        with warnings.catch_warnings():  # a feature missing everywhere: mean 0, scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(x, axis=0)
            scale = np.nanstd(x, axis=0)
        self.mean = np.nan_to_num(mean)
        self.scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.indicators = [int(c) for c in np.flatnonzero(np.isnan(x).any(axis=0))]
        design, design_valid = self._design(x), self._design(x_valid)
        best = None
        losses = {}
        for l2 in self.l2_grid:
            w, b = self._newton(design, y, l2)
            p = 1.0 / (1.0 + np.exp(-np.clip(design_valid @ w + b, -30, 30)))
            loss = float(-np.mean(y_valid * np.log(p + 1e-12)
                                  + (1 - y_valid) * np.log(1 - p + 1e-12)))
            losses[str(l2)] = loss
            if best is None or loss < best[0]:
                best = (loss, l2, w, b)
        _, l2, self.weights, self.bias = best
        self.info = {"train_groups": int(len(kept)), "train_groups_without_target":
                     int(len(groups) - len(kept)), "valid_groups": int(len(kept_valid)),
                     "l2": l2, "valid_log_loss": losses}
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RecsftError("linear re-ranker: not fitted")
        x = self._check_predict(x).astype(np.float64)
        return (self._design(x) @ self.weights + self.bias).astype(np.float32)

    def _payload(self) -> dict[str, Any]:
        return {"l2_grid": self.l2_grid, "iterations": self.iterations,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "indicators": self.indicators, "weights": self.weights.tolist(),
                "bias": self.bias}


KINDS = {"lightgbm": LightGBMReranker, "linear": LinearReranker}


def make_reranker(kind: str, feature_names: Sequence[str],
                  feature_config: Mapping[str, Any] | None = None, **params: Any) -> Reranker:
    """A new re-ranker of ``kind`` (``"lightgbm"`` or ``"linear"``)."""
    if kind not in KINDS:
        raise RecsftError(f"re-ranker kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind](feature_names, feature_config, **params)


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError:
        raise RecsftError("the LightGBM re-ranker needs lightgbm: pip install "
                          "'recsft[search]'") from None
    return lightgbm


def load_reranker(folder: str | os.PathLike) -> Reranker:
    """Read a re-ranker written by :meth:`Reranker.save`.

    Raises:
        RecsftError: the folder is not a saved re-ranker or its files are damaged (one line
            naming the file).
    """
    from recsft.fileio import read_json

    root = Path(folder)
    path = root / CONFIG_FILE
    if not path.is_file():
        raise RecsftError(f"{path} is missing: {root} is not a saved search re-ranker")
    meta = read_json(path, "search re-ranker file")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT \
            or meta.get("format_version") != FORMAT_VERSION:
        raise RecsftError(f"{path}: expected format {FORMAT!r} version {FORMAT_VERSION}")
    kind, names = meta.get("kind"), meta.get("feature_names")
    if kind not in KINDS:
        raise RecsftError(f"{path}: kind {kind!r}; expected one of {sorted(KINDS)}")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RecsftError(f"{path}: feature_names must be a list of strings")
    config = meta.get("feature_config") or {}
    try:
        if kind == "lightgbm":
            ranker = LightGBMReranker(names, config, meta["params"], meta["rounds"],
                                      meta["early_stopping"])
            model_path = root / LIGHTGBM_FILE
            if not model_path.is_file():
                raise RecsftError(f"{model_path} is missing: the LightGBM model file")
            lgb = _lightgbm()
            try:
                ranker.booster = lgb.Booster(model_str=model_path.read_text())
            except lgb.basic.LightGBMError as err:
                raise RecsftError(f"{model_path}: not a LightGBM text model: "
                                  f"{str(err).splitlines()[0] if str(err) else err}") from None
            if ranker.booster.feature_name() != names:
                raise RecsftError(f"{model_path}: its features {ranker.booster.feature_name()}"
                                  f" differ from {path}'s feature_names")
        else:
            ranker = LinearReranker(names, config, meta["l2_grid"], meta["iterations"])
            ranker.mean = np.asarray(meta["mean"], dtype=np.float64)
            ranker.scale = np.asarray(meta["scale"], dtype=np.float64)
            ranker.indicators = [int(i) for i in meta["indicators"]]
            ranker.weights = np.asarray(meta["weights"], dtype=np.float64)
            ranker.bias = float(meta["bias"])
            if len(ranker.mean) != len(names) or \
                    len(ranker.weights) != len(names) + len(ranker.indicators):
                raise RecsftError(f"{path}: the weights do not match {len(names)} features")
    except KeyError as err:
        raise RecsftError(f"{path}: field {err.args[0]!r} is missing") from None
    except (TypeError, ValueError) as err:
        raise RecsftError(f"{path}: a field has the wrong type ({err})") from None
    ranker.info = meta.get("info") or {}
    return ranker
