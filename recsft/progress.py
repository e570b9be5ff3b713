"""What a command says while it works: progress bars with an ETA, one-line notes, and the
start-up header of a training run.

Everything here writes to **stderr**, so that stdout keeps only results (tables, ``--json``,
JSON Lines answers). Bars are `tqdm <https://tqdm.github.io>`_ bars, at most 100 columns wide,
with elapsed time and ETA (``[00:12<01:40, ...]``); notes go through ``tqdm.write`` so an active
bar stays whole.

When bars show:

- ``RECSFT_PROGRESS=0`` (or ``recsft --quiet``): never;
- ``RECSFT_PROGRESS=1``: always, also when stderr is a file or a pipe (logs, tests);
- unset: only when stderr is a terminal.

``--quiet`` (:func:`set_quiet`) also drops the notes: only results and errors are printed.
In a process group (Accelerate, ``torchrun``) only the main process shows anything: callers
pass ``main_process``.

Example:
    >>> from recsft import progress
    >>> for batch in progress.bar(range(3), desc="scoring", unit="batch"):
    ...     pass
    >>> progress.note("scored 3 batches")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ENV", "WIDTH", "bar", "bars_enabled", "describe_run", "format_duration", "note",
           "quiet", "remaining", "set_quiet", "silence_libraries", "tqdm_class"]

#: The environment variable that turns bars on (``1``) or off (``0``).
ENV = "RECSFT_PROGRESS"
#: Widest line recsft prints on the terminal (bars and tables).
WIDTH = 100

_OFF = {"0", "false", "no", "off"}
_ON = {"1", "true", "yes", "on"}
_state = {"quiet": False}


def set_quiet(value: bool = True) -> None:
    """Print results and errors only: no bars, no notes (``recsft --quiet``)."""
    _state["quiet"] = bool(value)


def quiet() -> bool:
    """Whether :func:`set_quiet` is in force."""
    return _state["quiet"]


def bars_enabled() -> bool:
    """Whether progress bars are shown (see the module docstring for the rule)."""
    if _state["quiet"]:
        return False
    value = os.environ.get(ENV, "").strip().lower()
    if value in _OFF:
        return False
    if value in _ON:
        return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):   # a replaced or closed stderr
        return False


def width() -> int:
    """Columns for a bar or a table: the terminal's, at most :data:`WIDTH`."""
    return max(40, min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))


def bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
        unit: str = "it", initial: int = 0, leave: bool = False, smoothing: float = 0.3,
        main_process: bool = True) -> Any:
    """A progress bar on stderr with elapsed time and ETA; inert when bars are off.

    Args:
        iterable: What to iterate over (or ``None`` and call ``.update(n)``).
        total: Expected number of steps (default ``len(iterable)`` where it has one).
        desc: The label at the left (``"epoch 3/60"``; change it with ``set_description_str``).
        unit: What one step is (``"batch"``, ``"user"``).
        initial: Steps already done (a resumed run).
        leave: Keep the finished bar on the screen.
        smoothing: Weight of the latest rate in the ETA (0: the average since the start, which
            counts pauses such as validation; 1: the latest rate only).
        main_process: ``False`` on the other processes of a process group (no bar there).

    Returns:
        A ``tqdm`` bar (``disable=True`` when bars are off: iterating and ``update`` still
        work, nothing is drawn).
    """
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave,
                file=sys.stderr, ncols=width(), mininterval=0.5, smoothing=smoothing,
                disable=not (main_process and bars_enabled()))


def tqdm_class() -> type:
    """A ``tqdm`` class that draws as :func:`bar` does (stderr, at most 100 columns, off by
    the same rule), for a library that takes one: ``huggingface_hub.snapshot_download(...,
    tqdm_class=progress.tqdm_class())`` shows its download there although
    :func:`silence_libraries` turned the library's own bars off.
    """
    from tqdm import tqdm

    class RecsftBar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("file", sys.stderr)
            kwargs.setdefault("ncols", width())
            kwargs.setdefault("mininterval", 0.5)
            kwargs["disable"] = bool(kwargs.get("disable")) or not bars_enabled()
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)

    return RecsftBar


def note(message: str, main_process: bool = True) -> None:
    """One line on stderr (not under ``--quiet``), written so that an active bar stays whole."""
    if _state["quiet"] or not main_process:
        return
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


#: What :func:`silence_libraries` sets (where the user has not set it).
LIBRARY_SETTINGS = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",        # huggingface_hub, and transformers' own bars
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_VERBOSITY": "error",
}


def silence_libraries() -> None:
    """Keep the Hugging Face libraries' own bars and notices off the terminal.

    transformers draws "Loading weights" at every ``from_pretrained`` and "Writing model
    shards" at every ``save_pretrained``; huggingface_hub and datasets draw theirs for
    downloads and ``map``. recsft's own bars (:func:`bar`) say what is going on instead.
    Errors still show. Each setting is an environment variable (inherited by worker
    processes) set only where the user has not set it; a library imported already is also
    told directly. Nothing is imported here (``recsft --help`` stays fast).
    """
    for name, value in LIBRARY_SETTINGS.items():
        os.environ.setdefault(name, value)
    bars_off = os.environ["HF_HUB_DISABLE_PROGRESS_BARS"].strip().lower() not in _OFF
    errors_only = os.environ["TRANSFORMERS_VERBOSITY"].strip().lower() == "error"
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        if bars_off:
            transformers_logging.disable_progress_bar()
        if errors_only:
            transformers_logging.set_verbosity_error()
    if "huggingface_hub" in sys.modules and bars_off:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "datasets" in sys.modules:
        import datasets

        if os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"].strip().lower() not in _OFF:
            datasets.disable_progress_bars()
        if os.environ["DATASETS_VERBOSITY"].strip().lower() == "error":
            datasets.logging.set_verbosity_error()


def format_duration(seconds: float) -> str:
    """``42s``, ``4m05s``, ``1h02m``: a duration for a progress line."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def remaining(elapsed: float, done: float, total: float) -> float:
    """Seconds left at the rate so far (``inf`` before anything is done)."""
    if done <= 0:
        return math.inf
    return max(0.0, elapsed / done * (total - done))


def describe_run(*, name: str, model: Any, dataset: Mapping[str, Any], sequences: int,
                 device: str, processes: int, precision: str, output: str,
                 epochs: int | None = None, batch_size: int | None = None) -> list[str]:
    """The start-up header of a training run: what is trained, on what, where, into where.

    Args:
        name: The run's name.
        model: The model (its ``config.model_type`` and parameter count are shown).
        dataset: The cleaned data's counts: ``users``, ``items``, ``interactions`` (as
            ``PreparedData.dataset_record()``), and ``source``.
        sequences: Training sequences (rows of the training dataset).
        device: The device the model trains on (``"cpu"``, ``"cuda:0"``).
        processes: Number of training processes.
        precision: Mixed precision setting (``"no"``, ``"fp16"``, ``"bf16"``).
        output: The run folder it will write.
        epochs: At most this many epochs (shown if given).
        batch_size: Sequences per optimizer step over all processes (shown if given).

    Returns:
        Five lines, each under 100 characters except for very long paths; print them with
        :func:`note`.

    Example:
        >>> for line in describe_run(name="demo", model=model, dataset=prepared.dataset_record(),
        ...                          sequences=len(prepared.train_dataset), device="cpu",
        ...                          processes=1, precision="no", output="runs/demo"):
        ...     note(line)  # doctest: +SKIP
    """
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    config = getattr(model, "config", None)
    kind = getattr(config, "model_type", None) or type(model).__name__
    shape = []
    for field, label in (("hidden_size", "hidden"), ("num_hidden_layers", "layers")):
        value = getattr(config, field, None)
        if value is not None:
            shape.append(f"{label} {value}")
    count = f"{_count(parameters)} parameters"
    if trainable != parameters:
        count += f" ({_count(trainable)} trainable)"
    source = str(dataset.get("source", ""))
    if len(source) > 40:
        source = "..." + source[-37:]
    plan = []
    if epochs is not None:
        plan.append(f"at most {epochs} epochs")
    if batch_size is not None:
        plan.append(f"batch {batch_size}")
    bits = {"no": "fp32", "fp16": "fp16 mixed", "bf16": "bf16 mixed", "fp8": "fp8 mixed"}
    where = f"{device}, {processes} process{'es' if processes != 1 else ''}, " \
            f"{bits.get(precision, precision)} precision"
    return [
        f"recsft train: {name}",
        f"  model   {kind}, {count}" + (f" ({', '.join(shape)})" if shape else ""),
        f"  data    {dataset.get('users', 0):,} users, {dataset.get('items', 0):,} items, "
        f"{dataset.get('interactions', 0):,} events"
        + (f" ({source})" if source else "") + f"; {sequences:,} training sequences",
        f"  device  {where}" + (f"; {', '.join(plan)}" if plan else ""),
        f"  output  {output}",
    ]


def _count(n: int) -> str:
    """``412,672`` as ``412.7k``, ``12,345,678`` as ``12.3M``."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.2f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 10_000:
        return f"{n / 1e3:.1f}k"
    return f"{n:,}"
