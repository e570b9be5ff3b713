"""The ``tune:`` section of a run config: the search space and budget of ``recsft tune``.

A space maps dotted config keys to a distribution::

    tune:
      trials: 30
      pruner: hyperband
      space:
        model.hidden_dropout_prob: {float: [0.0, 0.5]}
        training.learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
        model.num_hidden_layers: {int: [1, 3]}
        data.max_length: {int: [50, 200], step: 50}
        model.loss: {choice: [ce, gbce]}

The section is checked when the config is read (:meth:`TuneConfig.check`): an unknown key, a key
that is not a field of its section (of the model type, for ``model.*``), a malformed
distribution or values of the wrong type are one error line naming ``tune.space.<key>``.
Without ``space`` the model type's default space is searched
(:func:`recsft.tuning.space.default_space`).

Example:
    >>> TuneConfig(space={"model.hidden_size": {"choice": [32, 64]}}).pruner
    'hyperband'
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsft.errors import shorten
from recsft.field_types import coerce

#: The values of ``tune.pruner``.
PRUNERS = ("hyperband", "successive_halving", "none")
#: The values of ``tune.sampler``.
SAMPLERS = ("tpe", "random")
#: The kinds of distribution a space entry may have (exactly one per entry).
KINDS = ("float", "int", "choice")
#: The config sections whose keys a space may search.
SEARCHABLE = ("data", "model", "training", "evaluation")
#: Keys no trial may change: they name where runs go, or what the search reads.
FIXED = ("model.model_type", "training.metric_for_best", "training.epochs",
         "training.init_from", "data.source", "evaluation.ks")

_METRIC = re.compile(r"^[a-z_]+@(\d+)$")


@dataclass
class TuneConfig:
    """The ``tune:`` section: what ``recsft tune`` searches and for how long.

    Attributes:
        trials: Trials the study holds once complete (a resumed study runs the ones left).
        budget_minutes: The search's budget in minutes of this call (``null``: no limit): no
            trial starts after it, and the trial running then stops at its next validation
            (recorded as pruned); the final training of the chosen config comes after.
        budget_trainings: The search's budget in units of one training of the config as given
            (``null``: no such limit): the first trial of a study trains the config's own
            values (``start_from_config``) to its end, and the trials together may then spend
            this many times its seconds, measured in the same conditions as every other trial
            (a machine shared with other work slows them all alike). Counted over the whole
            study, across resumed calls; with ``budget_minutes`` the sooner limit holds.
        metric: Validation metric the search maximises (e.g. ``ndcg@10``; ``recsft tune``
            checks that its cut-off is in ``evaluation.ks``). No trial reads the test split.
        sampler: ``tpe`` (Optuna's Tree-structured Parzen Estimator) or ``random``, seeded
            by ``seed``.
        seed: Seed of the sampler.
        pruner: ``hyperband``, ``successive_halving`` (multi-fidelity: a trial whose
            validation curve trails the others stops early; epochs are the resource) or
            ``none`` (every trial trains to its end or its early stopping).
        min_epochs: Fewest epochs a trial trains before it may be pruned (the pruner's
            minimum resource; at least ``training.eval_every`` in effect).
        space: Dotted config keys to distributions: ``{float: [lo, hi], log: true}``,
            ``{int: [lo, hi], step: k}`` or ``{choice: [a, b, c]}``; ``null``: the model
            type's default space (docs/tuning.md).
        start_from_config: The first trial of a new study is the config's own values of the
            searched keys (those inside the space), so the search starts from the settings it
            was given and selects nothing worse on validation than them.
    """

    trials: int = 20
    budget_minutes: float | None = None
    budget_trainings: float | None = None
    metric: str = "ndcg@10"
    sampler: str = "tpe"
    seed: int = 0
    pruner: str = "hyperband"
    min_epochs: int = 1
    space: dict[str, Any] | None = None
    start_from_config: bool = True

    def check(self, config: Any, error: type[Exception],
              where: Callable[[str], str] = lambda key: "<config>") -> None:
        """Check the section against the rest of the run config.

        Args:
            config: The :class:`~recsft.config.RunConfig` holding this section.
            error: The exception class raised (``recsft.config.ConfigError``).
            where: Names the origin of a dotted key (the file, or ``--set``).

        Raises:
            error: one line naming the key (``tune.space.<key>`` for the space).
        """
        def fail(key: str, message: str) -> None:
            raise error(f"{where(key)}: {key}: {message}")

        for name in ("trials", "min_epochs"):
            if getattr(self, name) < 1:
                fail(f"tune.{name}", f"expected at least 1, got {getattr(self, name)}")
        if self.budget_minutes is not None and not self.budget_minutes > 0:
            fail("tune.budget_minutes", f"expected a positive number of minutes or null, got "
                                        f"{shorten(self.budget_minutes)}")
        if self.budget_trainings is not None and not self.budget_trainings > 0:
            fail("tune.budget_trainings", f"expected a positive number of trainings or null, "
                                          f"got {shorten(self.budget_trainings)}")
        if self.budget_trainings is not None and not self.start_from_config:
            fail("tune.budget_trainings", "its unit is the first trial's training of the "
                                          "config's own values: set tune.start_from_config")
        for name, allowed in (("pruner", PRUNERS), ("sampler", SAMPLERS)):
            if getattr(self, name) not in allowed:
                fail(f"tune.{name}", f"expected one of {', '.join(allowed)}, got "
                                     f"{shorten(getattr(self, name))}")
        if not _METRIC.match(self.metric):
            fail("tune.metric", f"expected a ranking metric such as ndcg@10, got "
                                f"{shorten(self.metric)}")
        for key, spec in (self.space or {}).items():
            message = space_entry_error(config, key, spec)
            if message:
                fail(f"tune.space.{key}", message)


def check_metric(config: Any, error: type[Exception]) -> None:
    """Raise ``error`` when ``tune.metric``'s cut-off is not in ``evaluation.ks`` (checked when
    a study starts: a config that is not tuned may evaluate other cut-offs)."""
    match = _METRIC.match(config.tune.metric)
    if not match or int(match[1]) not in config.evaluation.ks:
        raise error(f"tune.metric {shorten(config.tune.metric)}: its cut-off is not in "
                    f"evaluation.ks {config.evaluation.ks}")


def tune_folder(config: Any) -> Path:
    """``<output_dir>/<name>-tune``: a run config's study, its trials and its outputs."""
    return Path(config.output_dir) / f"{config.name}-tune"


def field_hint(config: Any, key: str) -> Any:
    """The type hint of dotted ``key`` (``section.field``) in ``config``, or ``None`` when the
    key is not a field a trial may set."""
    section, _, name = str(key).partition(".")
    if section not in SEARCHABLE or not name or "." in name or key in FIXED:
        return None
    if section == "model":
        hints = dict(config.model.field_types())
        hints.update(model_type=str, use_categories=bool)
    else:
        hints = typing.get_type_hints(type(getattr(config, section)))
    return hints.get(name)


def space_entry_error(config: Any, key: Any, spec: Any) -> str | None:
    """What is wrong with one space entry, or ``None`` when it is valid.

    Args:
        config: The run config the space belongs to.
        key: Dotted config key.
        spec: Its distribution (``{float: [lo, hi], log: bool}``, ``{int: [lo, hi], step: k,
            log: bool}`` or ``{choice: [values]}``).
    """
    hint = field_hint(config, key) if isinstance(key, str) else None
    if hint is None:
        return (f"not a key a trial may set (expected section.field of {', '.join(SEARCHABLE)}"
                f" for this model type, except {', '.join(FIXED)})")
    if not isinstance(spec, dict):
        return f"expected a mapping such as {{float: [lo, hi]}}, got {shorten(spec)}"
    kinds = [kind for kind in KINDS if kind in spec]
    if len(kinds) != 1:
        return f"expected exactly one of {', '.join(KINDS)}, got {shorten(sorted(spec, key=str))}"
    kind = kinds[0]
    allowed = {"choice": {"choice"}, "float": {"float", "log"},
               "int": {"int", "log", "step"}}[kind]
    extra = sorted((k for k in spec if k not in allowed), key=str)
    if extra:
        return f"unknown key(s) {shorten(extra)} for a {kind} distribution"
    if not isinstance(spec.get("log", False), bool):
        return f"log must be true or false, got {shorten(spec['log'])}"
    if kind == "choice":
        values = spec["choice"]
        if not isinstance(values, list) or not values:
            return f"choice: expected a non-empty list, got {shorten(values)}"
        for value in values:
            if value is not None and not isinstance(value, (bool, int, float, str)):
                return f"choice: values must be scalars, got {shorten(value)}"
            if not _fits(value, hint):
                return f"choice: {shorten(value)} is not a valid value of {key}"
        return None
    bounds = spec[kind]
    number = float if kind == "float" else int
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(_is_number(v, number) for v in bounds)):
        return f"{kind}: expected [low, high] {kind}s, got {shorten(bounds)}"
    low, high = bounds_of(spec)
    if kind == "float" and not _fits(0.5, hint):
        return f"float: {key} does not take fractional values (use int or choice)"
    if low > high or (kind == "float" and low == high):
        return f"{kind}: low {low} must be below high {high}"
    if spec.get("log") and low <= 0:
        return f"log: needs a positive low bound, got {low}"
    step = spec.get("step", 1)
    if kind == "int" and (not _is_number(step, int) or step < 1):
        return f"step: expected a positive integer, got {shorten(step)}"
    if kind == "int" and spec.get("log") and step != 1:
        return "step and log cannot be combined"
    if not (_fits(low, hint) and _fits(high, hint)):
        return f"{kind} values do not fit {key}"
    return None


def bounds_of(spec: dict[str, Any]) -> tuple[Any, Any]:
    """``(low, high)`` of a float or int entry, as numbers (YAML reads ``1e-4`` as a
    string: it is a float here, as in the rest of the config)."""
    kind = "float" if "float" in spec else "int"
    low, high = spec[kind]
    return (float(low), float(high)) if kind == "float" else (int(low), int(high))


def normalize_space(space: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A checked space with its bounds as numbers and ``log`` spelled out, so that the same
    space read from YAML (``1e-4`` a string) or built in Python compares equal."""
    normal: dict[str, dict[str, Any]] = {}
    for key, spec in space.items():
        if "choice" in spec:
            normal[key] = {"choice": list(spec["choice"])}
            continue
        kind = "float" if "float" in spec else "int"
        normal[key] = {kind: list(bounds_of(spec)), "log": bool(spec.get("log", False))}
        if kind == "int":
            normal[key]["step"] = int(spec.get("step", 1))
    return normal


def _is_number(value: Any, number: type) -> bool:
    if isinstance(value, bool):
        return False
    if number is int:
        return isinstance(value, int)
    return isinstance(value, (int, float)) or _fits(value, float)


def _fits(value: Any, hint: Any) -> bool:
    try:
        coerce(value, hint)
    except TypeError:
        return False
    return True
