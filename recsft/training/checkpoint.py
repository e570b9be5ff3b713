"""Resume checkpoints that loading can never turn into running code.

A checkpoint holds tensors in safetensors files and everything else in JSON; loading reads
only those two formats (never ``torch.load`` or pickle), checks every file against the SHA-256
its manifest recorded, and checks names, shapes and dtypes against the live model and optimizer.
Any mismatch or damage is one :class:`~recsft.errors.RunFolderError` naming the file.

Layout of ``checkpoints/step-N/`` (``N``: optimizer steps done)::

    model.safetensors       the unwrapped model's ``state_dict`` (tied tensors stored once)
    optimizer.safetensors   optimizer state tensors, ``state.<param index>.<name>`` (AdamW:
                            ``exp_avg``, ``exp_avg_sq``, ``step``)
    trainer_state.json      loop position and early-stopping record, optimizer param groups
                            (hyper-parameters), scheduler and gradient-scaler state, tied names
    rng-<rank>.json         per process: Python ``random`` and NumPy generator states,
                            Accelerate's step counter (gradient accumulation)
    rng-<rank>.safetensors  per process: torch CPU generator (``torch_cpu``) and CUDA
                            generators (``cuda.<device>``), uint8 tensors
    grad-<rank>.safetensors per process: gradients accumulated so far (a checkpoint written
                            between two updates of gradient accumulation; else empty)
    checkpoint.json         written last: format, version, step, processes, every file's size
                            and SHA-256

The folder is built under a temporary name and swapped in when complete, so ``step-N`` exists
only once its manifest does. Files a manifest does not list, and names it lists that recsft does
not read, are never opened. A ``step-N`` folder written by ``accelerator.save_state`` (recsft
0.1's pickle files) is refused, never unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recsft.errors import RunFolderError, shorten
from recsft.fileio import (
    TEMP_PREFIX,
    atomic_save,
    atomic_write_text,
    require_regular_file,
    swap_in,
    temporary_folder,
)

FORMAT = "recsft-checkpoint"
VERSION = 1
MANIFEST = "checkpoint.json"
MODEL = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "trainer_state.json"
STEP_PREFIX = "step-"
MANIFEST_MAX_BYTES = 1 << 20
# Written by accelerate's save_state (pickle: never opened).
LEGACY = re.compile(r"^(custom_checkpoint_\d+\.pkl|random_states_\d+\.pkl|optimizer(_\d+)?\.bin|"
                    r"scheduler(_\d+)?\.bin|sampler(_\d+)?\.bin|dl_state_dict(_\d+)?\.bin|"
                    r"scaler\.pt|pytorch_model(_\d+)?\.bin)$")


def rng_files(rank: int) -> tuple[str, str]:
    """The JSON and safetensors file names of process ``rank``'s random states."""
    return f"rng-{rank}.json", f"rng-{rank}.safetensors"


def gradient_file(rank: int) -> str:
    """The file of process ``rank``'s accumulated gradients."""
    return f"grad-{rank}.safetensors"


def checkpoint_steps(directory: str | os.PathLike) -> list[int]:
    """The steps of the ``step-N`` folders in ``directory``, ascending (none if it is absent)."""
    if not os.path.isdir(directory):
        return []
    return sorted(int(name[len(STEP_PREFIX):]) for name in os.listdir(directory)
                  if name.startswith(STEP_PREFIX) and name[len(STEP_PREFIX):].isdigit())


def latest_checkpoint(directory: str | os.PathLike) -> str | None:
    """The newest checkpoint folder (``step-N``) in ``directory``, if any.

    A ``step-N`` folder appears only complete (renamed into place after its manifest);
    :func:`load_checkpoint` still checks it.
    """
    steps = checkpoint_steps(directory)
    return os.path.join(directory, f"{STEP_PREFIX}{steps[-1]}") if steps else None


# --- writing -------------------------------------------------------------------------------


def save_checkpoint(accelerator: Any, directory: str, step: int, keep: int,
                    model: torch.nn.Module, optimizer: Any, scheduler: Any,
                    loop_state: dict[str, Any]) -> None:
    """Write ``directory/step-<step>`` (called by every process); keep the newest ``keep``.

    Every process writes its random states; the main process writes the model, optimizer,
    scheduler and loop state (the same on every process), then the manifest, then swaps the
    folder into place and removes older checkpoints.

    Args:
        accelerator: The Accelerate handle (``process_index``, ``step``, ``scaler``).
        directory: The run's checkpoint folder.
        step: Optimizer steps done (the folder's name).
        keep: How many newest checkpoints to keep (``<= 0``: all).
        model: The prepared model (unwrapped here).
        optimizer: The prepared optimizer.
        scheduler: The prepared learning-rate scheduler.
        loop_state: The loop's position and record (JSON values).
    """
    work = [str(temporary_folder(directory, f"{STEP_PREFIX}{step}"))
            if accelerator.is_main_process else None]
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(work)
    folder = Path(work[0])
    unwrapped = accelerator.unwrap_model(model)
    _write_rng(folder, accelerator)
    # Between two updates of gradient accumulation each process holds its own partial sums.
    _save_tensors(folder / gradient_file(accelerator.process_index),
                  {name: _cpu(p.grad) for name, p in unwrapped.named_parameters()
                   if p.grad is not None})
    if accelerator.is_main_process:
        stored, aliases = _dedupe(unwrapped.state_dict())
        _save_tensors(folder / MODEL, stored)
        tensors, optimizer_json = _split_optimizer(optimizer.state_dict())
        _save_tensors(folder / OPTIMIZER, tensors)
        scaler = getattr(accelerator, "scaler", None)
        _write_json(folder / STATE, {
            "loop": loop_state,
            "model": {"aliases": aliases},
            "optimizer": optimizer_json,
            "scheduler": scheduler.state_dict(),
            "scaler": None if scaler is None else scaler.state_dict(),
        })
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _write_manifest(folder, step, accelerator.num_processes)
        swap_in(folder, os.path.join(directory, f"{STEP_PREFIX}{step}"))
        _prune(directory, keep)
    accelerator.wait_for_everyone()


def _write_json(path: Path, value: Any) -> None:
    # allow_nan: the loop's best metric starts at -inf (written -Infinity, read back by json).
    atomic_write_text(path, json.dumps(value, allow_nan=True) + "\n")


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    atomic_save(path, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))


def _cpu(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", copy=True).contiguous()


def _dedupe(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """CPU copies of a ``state_dict``, each tied tensor once, and ``{tied name: stored name}``."""
    stored: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, tensor in state.items():
        key = (tensor.device, tensor.untyped_storage().data_ptr(), tensor.storage_offset(),
               tuple(tensor.shape), tensor.stride(), tensor.dtype)
        if tensor.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        stored[name] = _cpu(tensor)
    return stored, aliases


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer ``state_dict`` as ``state.<index>.<name>`` tensors and a JSON part."""
    tensors: dict[str, torch.Tensor] = {}
    others: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{name}"] = _cpu(value)
            else:
                others.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "state": others}


def _write_rng(folder: Path, accelerator: Any) -> None:
    version, internal, gauss = random.getstate()
    generator, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    json_name, tensor_name = rng_files(accelerator.process_index)
    _write_json(folder / json_name, {
        "rank": accelerator.process_index,
        "accelerator_step": int(getattr(accelerator, "step", 0)),
        "python": [version, list(internal), gauss],
        "numpy": {"bit_generator": generator, "key": key.tolist(), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
    })
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for device, value in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{device}"] = value.cpu()
    _save_tensors(folder / tensor_name, tensors)


def _write_manifest(folder: Path, step: int, processes: int) -> None:
    from recsft import __version__

    files = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(TEMP_PREFIX):
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        files[path.name] = {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
    _write_json(folder / MANIFEST, {"format": FORMAT, "version": VERSION,
                                    "recsft_version": __version__, "step": step,
                                    "num_processes": processes, "files": files})


def _prune(directory: str, keep: int) -> None:
    """Remove checkpoints older than the newest ``keep`` and folders of interrupted saves."""
    for old in checkpoint_steps(directory)[:-keep] if keep > 0 else []:
        shutil.rmtree(os.path.join(directory, f"{STEP_PREFIX}{old}"), ignore_errors=True)
    for name in os.listdir(directory):
        if name.startswith((f"{TEMP_PREFIX}{STEP_PREFIX}", f"{TEMP_PREFIX}old-{STEP_PREFIX}")):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


# --- reading -------------------------------------------------------------------------------


def load_checkpoint(accelerator: Any, path: str | os.PathLike, model: torch.nn.Module,
                    optimizer: Any, scheduler: Any,
                    loop_template: dict[str, Any]) -> dict[str, Any]:
    """Restore a checkpoint written by :func:`save_checkpoint` (called by every process).

    Everything is read and checked first, then applied: the model's weights (and this
    process's accumulated gradients), the optimizer and scheduler state, the gradient scaler,
    Accelerate's step counter and this process's random generators.

    Args:
        accelerator: The Accelerate handle.
        path: The ``step-N`` folder.
        model: The prepared model (unwrapped here).
        optimizer: The prepared optimizer (fresh).
        scheduler: The prepared scheduler (fresh).
        loop_template: A fresh loop state (its keys and value kinds are expected).

    Returns:
        The saved loop state.

    Raises:
        RunFolderError: an older (pickle) checkpoint, a missing, altered or corrupt file, or
            state that does not fit the live model, optimizer or process count.
    """
    folder = Path(path)
    manifest = _read_manifest(folder)
    if manifest["num_processes"] != accelerator.num_processes:
        raise RunFolderError(
            f"{folder / MANIFEST}: written by {manifest['num_processes']} processes; resume it "
            f"with the same number (this run has {accelerator.num_processes})")
    listed = manifest["files"]
    state = _json_object(folder, STATE, listed)
    for field in ("loop", "model", "optimizer", "scheduler", "scaler"):
        if field not in state:
            raise RunFolderError(f"{folder / STATE}: field '{field}' is missing")
    where = f"{folder / STATE}:"
    loop = _check_loop(state["loop"], loop_template, f"{where} field 'loop'")
    unwrapped = accelerator.unwrap_model(model)
    weights = _model_state(folder, listed, state["model"], unwrapped)
    optimizer_state = _optimizer_state(folder, listed, state["optimizer"], optimizer)
    scheduler_state = _conform(scheduler.state_dict(), state["scheduler"],
                               f"{where} field 'scheduler'")
    scaler = getattr(accelerator, "scaler", None)
    if (scaler is None) != (state["scaler"] is None):
        raise RunFolderError(f"{where} field 'scaler': the checkpoint was written with "
                             f"{'no' if state['scaler'] is None else 'a'} gradient scaler, this "
                             f"run has {'none' if scaler is None else 'one'} (mixed_precision "
                             "must be the same)")
    scaler_state = None if scaler is None else _conform(
        scaler.state_dict(), state["scaler"], f"{where} field 'scaler'")
    gradients = _gradients(folder, listed, accelerator.process_index, unwrapped)
    restore_rng = _rng_state(folder, listed, accelerator.process_index)

    unwrapped.load_state_dict(weights)
    for name, param in unwrapped.named_parameters():
        param.grad = gradients[name].to(param.device) if name in gradients else None
    optimizer.load_state_dict(optimizer_state)
    scheduler.load_state_dict(scheduler_state)
    if scaler is not None:
        scaler.load_state_dict(scaler_state)
    accelerator.step = restore_rng()
    return loop


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        legacy = sorted(name for name in os.listdir(folder) if LEGACY.match(name))
        if legacy:
            raise RunFolderError(
                f"{folder}: a checkpoint written by an older recsft (Accelerate's pickle files, "
                f"such as {legacy[0]}), which cannot be loaded safely; train again without "
                "--resume, or finish this training with the recsft version that wrote it")
        raise RunFolderError(f"{path}: missing; {folder} is not a complete recsft checkpoint")
    require_regular_file(path, "checkpoint manifest")
    with open(path, "rb") as handle:
        data = handle.read(MANIFEST_MAX_BYTES + 1)
    if len(data) > MANIFEST_MAX_BYTES:
        raise RunFolderError(f"{path}: larger than {MANIFEST_MAX_BYTES} bytes; not a manifest")
    manifest = _parse_json(path, data)
    if manifest.get("format") != FORMAT:
        raise RunFolderError(f"{path}: field 'format' is {shorten(manifest.get('format'))}; "
                             f"expected '{FORMAT}'")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RunFolderError(f"{path}: field 'version' is {shorten(version)}; expected {VERSION}")
    if version > VERSION:
        raise RunFolderError(f"{path}: format version {version}, written by a newer recsft "
                             f"(this one reads version {VERSION})")
    processes = manifest.get("num_processes")
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise RunFolderError(f"{path}: field 'num_processes' is {shorten(processes)}; expected "
                             "a positive integer")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise RunFolderError(f"{path}: field 'files' is missing or not an object")
    for name, entry in files.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
                and isinstance(entry.get("bytes"), int) and entry["bytes"] >= 0):
            raise RunFolderError(f"{path}: field 'files' entry {shorten(name)}: expected "
                                 "{\"bytes\": size, \"sha256\": 64 hex digits}")
    return manifest


def _read_listed(folder: Path, name: str, listed: dict[str, Any]) -> bytes:
    """The bytes of ``folder/name`` once its size and SHA-256 match the manifest's."""
    if name not in listed:
        raise RunFolderError(f"{folder / MANIFEST}: does not list {name}; the checkpoint is "
                             "incomplete")
    path = require_regular_file(folder / name, "checkpoint file")
    expected = listed[name]
    with open(path, "rb") as handle:
        data = handle.read(expected["bytes"] + 1)
    if len(data) != expected["bytes"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise RunFolderError(f"{path}: size or SHA-256 differs from the one in {MANIFEST}; the "
                             "checkpoint file is corrupt or was altered")
    return data


def _parse_json(path: Path, data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise RunFolderError(f"{path}: not valid JSON ({shorten(str(err))})") from None
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    return value


def _json_object(folder: Path, name: str, listed: dict[str, Any]) -> dict[str, Any]:
    return _parse_json(folder / name, _read_listed(folder, name, listed))


def _tensors(folder: Path, name: str, listed: dict[str, Any]) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    data = _read_listed(folder, name, listed)
    try:
        return load(data)
    except Exception as err:  # SafetensorError and friends: the file is damaged
        raise RunFolderError(f"{folder / name}: not a readable safetensors file "
                             f"({shorten(str(err))})") from None


def _check_loop(saved: Any, template: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(saved, dict) or set(saved) != set(template):
        raise RunFolderError(f"{where}: expected the keys {sorted(template)}")
    for key, live in template.items():
        if not _same_kind(live, saved[key]):
            raise RunFolderError(f"{where}: '{key}' is {shorten(saved[key])}; expected a "
                                 f"{type(live).__name__}")
    return saved


def _same_kind(live: Any, saved: Any) -> bool:
    if isinstance(live, bool) or isinstance(saved, bool):
        return isinstance(live, bool) and isinstance(saved, bool)
    if isinstance(live, (int, float)):
        return isinstance(saved, (int, float))
    if isinstance(live, (list, tuple)):
        return isinstance(saved, list)
    return live is None or isinstance(saved, type(live))


def _conform(live: Any, saved: Any, where: str) -> Any:
    """``saved`` checked to have ``live``'s structure, tuples restored where ``live`` has them."""
    if isinstance(live, dict):
        if not isinstance(saved, dict) or set(saved) != {str(k) for k in live}:
            raise RunFolderError(f"{where}: expected the keys {shorten(sorted(map(str, live)))}")
        return {k: _conform(v, saved[str(k)], f"{where}.{k}") for k, v in live.items()}
    if isinstance(live, (list, tuple)):
        if not isinstance(saved, list) or len(saved) != len(live):
            raise RunFolderError(f"{where}: expected a list of {len(live)} values")
        items = [_conform(a, b, f"{where}[{i}]") for i, (a, b) in enumerate(zip(live, saved))]
        return tuple(items) if isinstance(live, tuple) else items
    if live is None:
        if saved is not None and not isinstance(saved, (bool, int, float, str)):
            raise RunFolderError(f"{where}: expected a single value")
        return saved
    if not _same_kind(live, saved):
        raise RunFolderError(f"{where}: is {shorten(saved)}; expected a {type(live).__name__}")
    return saved


def _model_state(folder: Path, listed: dict[str, Any], saved: Any,
                 model: torch.nn.Module) -> dict[str, torch.Tensor]:
    stored = _tensors(folder, MODEL, listed)
    aliases = saved.get("aliases") if isinstance(saved, dict) else None
    if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v in stored
            for k, v in aliases.items()):
        raise RunFolderError(f"{folder / STATE}: field 'model.aliases': expected "
                             f"{{name: stored name}} naming tensors of {MODEL}")
    weights = {**stored, **{name: stored[target] for name, target in aliases.items()}}
    live = model.state_dict()
    missing, extra = sorted(live.keys() - weights.keys()), sorted(weights.keys() - live.keys())
    if missing or extra:
        raise RunFolderError(f"{folder / MODEL}: tensor names differ from the model's (missing "
                             f"{shorten(missing)}, unexpected {shorten(extra)})")
    for name, tensor in live.items():
        _check_tensor(weights[name], tensor, folder / MODEL, name)
    return weights


def _check_tensor(saved: torch.Tensor, live: torch.Tensor, path: Path, name: str) -> None:
    if saved.shape != live.shape or saved.dtype != live.dtype:
        raise RunFolderError(
            f"{path}: tensor {shorten(name)} is {saved.dtype} {tuple(saved.shape)}; expected "
            f"{live.dtype} {tuple(live.shape)}")


def _gradients(folder: Path, listed: dict[str, Any], rank: int,
               model: torch.nn.Module) -> dict[str, torch.Tensor]:
    name = gradient_file(rank)
    gradients = _tensors(folder, name, listed)
    params = dict(model.named_parameters())
    for key, tensor in gradients.items():
        if key not in params:
            raise RunFolderError(f"{folder / name}: {shorten(key)} is not a parameter of the "
                                 "model")
        _check_tensor(tensor, params[key].detach(), folder / name, key)
    return gradients


def _optimizer_state(folder: Path, listed: dict[str, Any], saved: Any,
                     optimizer: Any) -> dict[str, Any]:
    where = f"{folder / STATE}: field 'optimizer'"
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict):
        raise RunFolderError(f"{where}: expected {{'param_groups': [...], 'state': {{...}}}}")
    live_groups = optimizer.state_dict()["param_groups"]
    groups = _conform(live_groups, saved.get("param_groups"), f"{where}.param_groups")
    for i, (group, live) in enumerate(zip(groups, live_groups)):
        if list(group["params"]) != list(live["params"]):
            raise RunFolderError(f"{where}.param_groups[{i}].params: the parameters differ "
                                 "from the model's")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    state: dict[int, dict[str, Any]] = {}
    path = folder / OPTIMIZER
    for name, tensor in _tensors(folder, OPTIMIZER, listed).items():
        parts = name.split(".", 2)
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit() or (
                int(parts[1]) >= len(params)):
            raise RunFolderError(f"{path}: tensor {shorten(name)}: expected "
                                 f"state.<parameter index below {len(params)}>.<name>")
        index = int(parts[1])
        if tensor.ndim:  # per-element state (exp_avg, exp_avg_sq): the parameter's shape
            _check_tensor(tensor, params[index].detach(), path, name)
        state.setdefault(index, {})[parts[2]] = tensor
    for index, values in saved["state"].items():
        if not (index.isdigit() and int(index) < len(params) and isinstance(values, dict)):
            raise RunFolderError(f"{where}.state: unexpected entry {shorten(index)}")
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": groups}


def _rng_state(folder: Path, listed: dict[str, Any], rank: int) -> Any:
    """Check process ``rank``'s random states; return a function that applies them (and
    returns Accelerate's step counter)."""
    json_name, tensor_name = rng_files(rank)
    path = folder / json_name
    saved = _json_object(folder, json_name, listed)
    tensors = _tensors(folder, tensor_name, listed)
    step = saved.get("accelerator_step")
    if saved.get("rank") != rank or not isinstance(step, int) or isinstance(step, bool):
        raise RunFolderError(f"{path}: fields 'rank' and 'accelerator_step' must be {rank} and "
                             "an integer")
    python, numpy_state = saved.get("python"), saved.get("numpy")
    try:
        version, internal, gauss = python
        python_state = (version, tuple(internal), gauss)
        numpy_tuple = (numpy_state["bit_generator"],
                       np.asarray(numpy_state["key"], dtype=np.uint32), int(numpy_state["pos"]),
                       int(numpy_state["has_gauss"]), float(numpy_state["cached_gaussian"]))
        # Validated on throw-away generators before anything is changed.
        random.Random().setstate(python_state)
        np.random.RandomState().set_state(numpy_tuple)
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise RunFolderError(f"{path}: fields 'python' / 'numpy' are not generator states "
                             f"({shorten(str(err))})") from None
    cpu = tensors.get("torch_cpu")
    expected = torch.get_rng_state()
    if cpu is None:
        raise RunFolderError(f"{folder / tensor_name}: tensor 'torch_cpu' is missing")
    _check_tensor(cpu, expected, folder / tensor_name, "torch_cpu")
    cuda = {}
    for name, tensor in tensors.items():
        match = re.fullmatch(r"cuda\.(\d+)", name)
        if name != "torch_cpu" and (match is None or tensor.dtype != torch.uint8
                                    or tensor.ndim != 1):
            raise RunFolderError(f"{folder / tensor_name}: unexpected tensor {shorten(name)}")
        if match:
            cuda[int(match.group(1))] = tensor

    def apply() -> int:
        random.setstate(python_state)
        np.random.set_state(numpy_tuple)
        torch.set_rng_state(cpu)
        # The devices both machines have (a resume elsewhere runs, but need not be exact).
        if cuda and torch.cuda.is_available():
            for device in range(min(len(cuda), torch.cuda.device_count())):
                if device in cuda:
                    try:
                        torch.cuda.set_rng_state(cuda[device], device)
                    except RuntimeError as err:
                        raise RunFolderError(f"{folder / tensor_name}: tensor 'cuda.{device}' is "
                                             f"not a CUDA generator state ({err})") from None
        return step

    return apply
