"""A run's sequence encoder as an ONNX graph, and onnxruntime running it.

:func:`export_onnx` writes the model's ``encode_sequences`` — the model inputs that
:meth:`recsft.retrieval.recommender.Recommender.model_inputs` builds (``input_ids``,
``attention_mask``, ``token_type_ids``, and ``time_gap_ids`` for a model trained with time
gaps) → ``(batch, dim)`` user vectors — as one ONNX file with dynamic batch and length axes.
The item matrix stays outside: the user vectors are searched in the run's item index exactly as
the eager model's are, so the ONNX encoder is a drop-in replacement for the forward pass.
:class:`OnnxEncoder` runs such a file with onnxruntime on the CPU.

The exporter is PyTorch's ``torch.export``-based one (``torch.onnx.export(..., dynamo=True)``,
ONNX graphs written with onnxscript): the supported exporter since PyTorch 2.9 (the
TorchScript-based one is deprecated), and the one that handles all four model types. The
models' two data-dependent shortcuts are restated branch-free for the export
(:mod:`recsft.export.traceable`); the rest is the model's own code. Every export is checked
before it is written: onnxruntime and the eager model encode the same seeded histories (batch
sizes 1 and many, every length up to the model's window) and must agree within
:data:`TOLERANCE`, else nothing is written.

**Safety.** ONNX is a data format: a protobuf of operators from the ONNX standard and tensors,
with no code to execute, which fits recsft's rule of loading nothing that runs code (no pickle).
:class:`OnnxEncoder` registers no custom-operator library, so a file naming an operator outside
the standard is refused. The file records the SHA-256 of the weights it was exported from
(``recsft.model_sha256`` in its metadata); :meth:`OnnxEncoder.for_run` refuses an encoder
exported from other weights (a run whose model changed since, e.g. after ``recsft index add``).

**Where it is written.** By default ``<run>/encoder.onnx``, added to the run through
:func:`recsft.runs.update.updating` (the manifest records it, ``recsft run verify`` checks it,
``recsft push`` uploads it). Elsewhere, a new file or one recsft exported before; an existing
file recsft did not write is never overwritten. Always atomically.

Example:
    >>> path = export_onnx("runs/demo")                               # doctest: +SKIP
    >>> encoder = OnnxEncoder.for_run("runs/demo", threads=1)          # doctest: +SKIP
    >>> rec = Recommender.from_pretrained("runs/demo")                 # doctest: +SKIP
    >>> users = encoder.encode(rec.model_inputs([["i1", "i7"]]))       # (1, dim) float32
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsft.errors import RecsftError, RefusedError, ResourceError, RunFolderError, shorten
from recsft.runs.files import ENCODER_ONNX

if TYPE_CHECKING:
    import torch

    from recsft.runs import Run

__all__ = ["ENCODER_ONNX", "KIND", "MIN_OPSET", "TOLERANCE", "OnnxEncoder", "export_onnx",
           "is_recsft_encoder"]

#: ``recsft.kind`` in the metadata of every encoder :func:`export_onnx` writes.
KIND = "recsft-sequence-encoder"
#: The oldest ONNX opset exported (older ones are not run correctly by onnxruntime).
MIN_OPSET = 18
#: Largest absolute difference allowed between onnxruntime's and the eager model's user vectors.
TOLERANCE = 1e-4
#: The graph's output.
OUTPUT = "user_vectors"
_TWO_GIB = 2**31 - 1  # protobuf's limit on one serialised message


def export_onnx(run: Run | str | os.PathLike, output: str | os.PathLike | None = None,
                opset: int | None = None) -> Path:
    """Export a run's sequence encoder to ONNX, checked against the eager model.

    Args:
        run: The run (a folder or an opened :class:`~recsft.runs.Run`).
        output: The ONNX file (default ``<run>/encoder.onnx``, recorded in the run's manifest).
            Inside the run folder: a top-level ``*.onnx`` name, recorded in the manifest too.
            Elsewhere: a new file, or an encoder recsft exported before.
        opset: ONNX opset (default: the exporter's, recorded in the file); at least
            :data:`MIN_OPSET`.

    Returns:
        The path written.

    Raises:
        RunFolderError: ``run`` is not a complete, intact run.
        RefusedError: ``output`` is a folder, a file of the run's own, or an existing file
            recsft did not write.
        RecsftError: a bad opset, an export that fails, or an exported graph that does not
            match the eager model within :data:`TOLERANCE`.
    """
    from recsft.fileio import atomic_write_bytes, make_folder
    from recsft.runs import Run
    from recsft.runs.update import updating

    run = run if isinstance(run, Run) else Run.open(run)
    name, target = _target(run, output)
    opset = _check_opset(opset)
    model = run.model()
    data = _exported_bytes(run, model, opset)
    if name is not None:
        with updating(run, name) as folder:
            atomic_write_bytes(folder / name, data)
        return run.path / name
    make_folder(target.parent)
    atomic_write_bytes(target, data)
    return target


# ---------------------------------------------------------------------------- where it goes


def is_recsft_encoder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ONNX file :func:`export_onnx` wrote (its metadata says so)."""
    try:
        import onnx

        model = onnx.load(os.fspath(path), load_external_data=False)
    except Exception:  # noqa: BLE001 (protobuf's and onnx's decode errors alike: not ours)
        return False
    return any(p.key == "recsft.kind" and p.value == KIND for p in model.metadata_props)


def _target(run: Run, output: str | os.PathLike | None) -> tuple[str | None, Path]:
    """``(name in the run, path)`` for an output inside the run folder, ``(None, path)``
    elsewhere; checked before anything is computed.

    Raises:
        RefusedError: as :func:`export_onnx`.
    """
    from recsft.runs.guard import check_file_output, inside

    if output is None:
        # A file of that name the user put into the run (not recorded by recsft) stays.
        check_file_output(run.path / ENCODER_ONNX, "the default output", is_recsft_encoder)
        return ENCODER_ONNX, run.path / ENCODER_ONNX
    target = Path(output)
    if inside(target, run.path):
        relative = target.resolve().relative_to(run.path.resolve())
        name = relative.as_posix()
        if len(relative.parts) != 1 or not name.endswith(".onnx") or name.startswith("."):
            raise RefusedError(f"--output {target}: inside the run folder only a top-level "
                               "'*.onnx' name is allowed (the default is "
                               f"{run.path / ENCODER_ONNX})")
        check_file_output(target, "--output", is_recsft_encoder)
        return name, run.path / name
    return None, check_file_output(target, "--output", is_recsft_encoder)


def _check_opset(opset: int | None) -> int | None:
    """``opset`` checked against :data:`MIN_OPSET` and the newest opset onnx knows.

    Raises:
        RecsftError: not an integer in range.
    """
    if opset is None:
        return None
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise RecsftError(f"--opset {shorten(opset)}: expected an integer from {MIN_OPSET} to "
                          f"{newest}")
    return opset


# ---------------------------------------------------------------------------- export


def _example_inputs(run: Run, model: Any, rows: int, seed: int) -> dict[str, torch.Tensor]:
    """Model inputs for ``rows`` seeded histories of the run's items, by the recommender's
    rule: lengths 1, 2, then 1, 2, ... up to one past the model's window (the newest events are
    kept) and again, event types drawn from the tokenizer's, increasing timestamps (time gaps
    of every size)."""
    from recsft.scoring.inputs import event_budget, model_inputs

    tokenizer = run.tokenizer
    rng = np.random.default_rng(seed)
    items, kinds = tokenizer.item_ids, tokenizer.event_types or [None]
    budget = event_budget(model.config)
    lengths = [min(row + 1, budget) if row < 2 else (row - 2) % (budget + 1) + 1
               for row in range(rows)]
    histories = [[items[i] for i in rng.integers(0, len(items), n)] for n in lengths]
    types = None if kinds == [None] else [[kinds[i] for i in rng.integers(0, len(kinds), n)]
                                          for n in lengths]
    times = [np.cumsum(rng.integers(0, 10**6, n)).tolist() for n in lengths]
    return model_inputs(tokenizer, model.config, histories, types, times)


def _exported_bytes(run: Run, model: Any, opset: int | None) -> bytes:
    """The checked ONNX file of ``model``'s encoder, serialised.

    Raises:
        RecsftError: the export fails, or the graph does not match the eager model.
    """
    import torch

    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if weights > _TWO_GIB:
        raise ResourceError(f"{run.path}: the model's weights take {weights / 2**30:.1f} GiB, "
                            "over the 2 GiB a single ONNX file can hold")
    example = _example_inputs(run, model, rows=2, seed=0)
    names = list(example)
    program = _export(run, model, tuple(example[n] for n in names), names, opset)
    proto = program.model_proto
    version = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if opset is not None and version != opset:
        raise RecsftError(f"--opset {opset}: the exporter could not convert the "
                          f"{_model_type(run)} encoder to it (it stayed at opset "
                          f"{version}); choose another opset")
    with torch.no_grad():
        width = int(model.encode_sequences(**example).shape[1])
    metadata = {"recsft.kind": KIND, "recsft.model_sha256": run.model_sha256,
                "recsft.model_type": _model_type(run),
                "recsft.opset": str(version),
                "recsft.max_length": str(model.config.max_position_embeddings),
                "recsft.vocab_size": str(model.config.vocab_size), "recsft.dim": str(width),
                "recsft.run": run.path.name, "recsft.version": _version()}
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    if proto.ByteSize() > _TWO_GIB:
        raise ResourceError(f"{run.path}: the encoder is {proto.ByteSize() / 2**30:.1f} GiB, "
                            "over the 2 GiB a single ONNX file can hold")
    data = proto.SerializeToString()
    difference = _check(run, model, data, version)
    proto.metadata_props.add(key="recsft.max_abs_diff", value=f"{difference:.3e}")
    return proto.SerializeToString()


def _export(run: Run, model: Any, args: tuple, names: list[str], opset: int | None) -> Any:
    """``torch.onnx.export(dynamo=True)`` of the traceable encoder, quietly.

    Raises:
        RecsftError: naming the run, the model type and the opset, with the exporter's reason.
    """
    import logging
    import warnings

    import torch

    from recsft.export.traceable import EncoderGraph, traceable

    length = int(model.config.max_position_embeddings)
    if length < 2 or args[0].shape[1] < 2:
        raise RecsftError(f"{run.path}: max_position_embeddings {length}; an encoder with a "
                          "dynamic length needs a window of at least 2 events")
    batch, positions = torch.export.Dim("batch"), torch.export.Dim("length", max=length)
    shapes = {"inputs": tuple({0: batch, 1: positions} for _ in names)}
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo",
                                                   "torch.fx.experimental.symbolic_shapes",
                                                   "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        _forget_rnn_kernels()
        with warnings.catch_warnings(), torch.no_grad(), traceable(model):
            warnings.simplefilter("ignore")
            return torch.onnx.export(
                EncoderGraph(model, names).eval(), args, dynamo=True, input_names=names,
                output_names=[OUTPUT], dynamic_shapes=shapes, opset_version=opset,
                optimize=True, verbose=False, report=False)
    except (NotImplementedError, RuntimeError, ValueError, TypeError) as err:
        raise RecsftError(f"{run.path}: the {_model_type(run)} encoder cannot "
                          f"be exported to ONNX{'' if opset is None else f' opset {opset}'} "
                          f"({_cause(err)})") from None
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)


def _forget_rnn_kernels() -> None:
    """Empty the dispatch caches of ``aten.gru.input`` and ``aten.lstm.input``.

    With dynamic shapes the exporter swaps in loop-based (``while_loop``) GRU and LSTM
    decompositions for the length of the export and restores the originals after, but the
    operators' dispatch caches keep the kernel resolved during the first export (torch 2.13):
    every later export in the same process then unrolls the recurrence over the example's
    length and freezes the length axis (an ONNX graph that only takes length 2). Emptying the
    caches makes each export resolve the kernel afresh. (:func:`_check` would refuse such a
    graph anyway: it runs every length.)
    """
    import torch

    for op in (torch.ops.aten.gru.input, torch.ops.aten.lstm.input):
        cache = getattr(op, "_dispatch_cache", None)
        if isinstance(cache, dict):
            cache.clear()


def _check(run: Run, model: Any, data: bytes, opset: int) -> float:
    """The largest absolute difference between onnxruntime and the eager model on seeded
    histories: one batch of 1, one with every length up to one past the model's window.

    Raises:
        RecsftError: onnxruntime cannot run the graph, or it disagrees beyond
            :data:`TOLERANCE`.
    """
    import torch

    from recsft.scoring.inputs import event_budget

    try:
        encoder = OnnxEncoder(data, threads=1)
    except RecsftError as err:
        raise RecsftError(f"{run.path}: onnxruntime cannot run the encoder exported at opset "
                          f"{opset} ({err})") from None
    worst = 0.0
    for rows, seed in ((1, 1), (event_budget(model.config) + 4, 2)):
        inputs = _example_inputs(run, model, rows, seed)
        with torch.no_grad():
            eager = model.encode_sequences(**inputs).float().numpy()
        worst = max(worst, float(np.abs(encoder.encode(inputs) - eager).max()))
    if not worst <= TOLERANCE:
        raise RecsftError(f"{run.path}: the exported encoder's user vectors differ from the "
                          f"eager model's by {worst:.2e} (> {TOLERANCE:g}); nothing written")
    return worst


# ---------------------------------------------------------------------------- running


class OnnxEncoder:
    """An exported encoder run by onnxruntime on the CPU.

    Args:
        path: An ONNX file :func:`export_onnx` wrote (or its bytes).
        threads: onnxruntime's intra-op threads (default: onnxruntime's own choice, the
            physical cores).

    Attributes:
        input_names: The model inputs the graph reads, in its order.
        max_length: The longest input the model takes (an appended ``[MASK]`` included).
        dim: Width of the user vectors.
        model_sha256: SHA-256 of the weights it was exported from.
        model_type: The run's model type (``sasrec``, ...).
        opset: The ONNX opset of the graph.
        metadata: Everything the file records (``recsft.*``).

    Raises:
        RecsftError: ``path`` is missing, not a valid ONNX model (one line naming the file),
            or not an encoder recsft exported; ``threads`` not a positive integer.
    """

    def __init__(self, path: str | os.PathLike | bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise RecsftError(f"threads: expected a positive integer, got {shorten(threads)}")
        where = "the exported encoder" if isinstance(path, bytes) else str(path)
        if not isinstance(path, bytes):
            from recsft.fileio import require_regular_file

            path = os.fspath(require_regular_file(path, "ONNX file"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: no warnings on stderr
        try:
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 (onnxruntime raises its own exception types)
            raise RecsftError(f"{where}: not a valid ONNX model ({_one_line(err)})") from None
        self.metadata = dict(session.get_modelmeta().custom_metadata_map)
        if self.metadata.get("recsft.kind") != KIND:
            raise RecsftError(f"{where}: an ONNX model, but not a sequence encoder recsft "
                              "exported (no recsft metadata); write one with 'recsft export "
                              "onnx --run RUN'")
        self.session, self.path = session, None if isinstance(path, bytes) else Path(path)
        self.input_names = [node.name for node in session.get_inputs()]
        self._dtypes = [_NUMPY_TYPES.get(node.type, np.int64) for node in session.get_inputs()]
        try:
            self.max_length = int(self.metadata["recsft.max_length"])
            self.dim = int(self.metadata["recsft.dim"])
            self.vocab_size = int(self.metadata["recsft.vocab_size"])
        except (KeyError, ValueError):
            raise RecsftError(f"{where}: its recsft metadata lacks max_length, dim or "
                              "vocab_size; export it again") from None
        self.model_sha256 = self.metadata.get("recsft.model_sha256", "")
        self.model_type = self.metadata.get("recsft.model_type", "")
        self.opset = int(self.metadata.get("recsft.opset", "0") or 0)

    @classmethod
    def for_run(cls, run: Run | str | os.PathLike, path: str | os.PathLike | None = None,
                threads: int | None = None) -> OnnxEncoder:
        """The encoder exported from ``run``'s current weights.

        Args:
            run: The run (a folder or an opened :class:`~recsft.runs.Run`).
            path: The ONNX file (default: the run's ``encoder.onnx``, which its manifest must
                list: ``Run.open`` has checked its digest).
            threads: As for the constructor.

        Raises:
            RunFolderError: no encoder in the run, or one exported from other weights.
            RecsftError: as for the constructor.
        """
        from recsft.runs import Run

        run = run if isinstance(run, Run) else Run.open(run)
        if path is None:
            if ENCODER_ONNX not in run.manifest.files:
                raise RunFolderError(f"{run.path}: no {ENCODER_ONNX}; export it with 'recsft "
                                     f"export onnx --run {run.path}'")
            path = run.path / ENCODER_ONNX
        encoder = cls(path, threads=threads)
        if encoder.model_sha256 != run.model_sha256:
            raise RunFolderError(f"{path}: exported from other weights (model "
                                 f"{encoder.model_sha256[:12] or '?'}), not from this run's "
                                 f"model ({run.model_sha256[:12]}); export it again with "
                                 f"'recsft export onnx --run {run.path}'")
        return encoder

    def encode(self, inputs: Mapping[str, Any]) -> np.ndarray:
        """User vectors for model inputs.

        Args:
            inputs: ``(batch, length)`` tensors or arrays by name, as
                :meth:`~recsft.retrieval.recommender.Recommender.model_inputs` returns them
                (extra names are ignored).

        Returns:
            ``(batch, dim)`` float32 user vectors.

        Raises:
            RecsftError: an input the graph reads is missing or not ``(batch, length)`` like
                the others.
            ResourceError: longer than the model's window, or an item id outside its
                vocabulary.
        """
        feed, shape = {}, None
        for name, dtype in zip(self.input_names, self._dtypes):
            if name not in inputs:
                raise RecsftError(f"model inputs: missing {name!r}; this encoder reads "
                                  f"{', '.join(self.input_names)}")
            value = inputs[name]
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            array = np.ascontiguousarray(value, dtype=dtype)
            if array.ndim != 2 or (shape is not None and array.shape != shape):
                raise RecsftError(f"model inputs: {name} has shape {array.shape}, expected "
                                  f"(batch, length){'' if shape is None else f' = {shape}'}")
            shape, feed[name] = array.shape, array
        if shape[1] > self.max_length:
            raise ResourceError(f"model inputs: length {shape[1]} exceeds the model's window "
                                f"of {self.max_length}")
        if shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = feed.get("input_ids")
        if ids is not None and ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ResourceError(f"model inputs: input_ids outside 0..{self.vocab_size - 1}, "
                                "the vocabulary this encoder was exported with")
        return np.asarray(self.session.run([OUTPUT], feed)[0], dtype=np.float32)


_NUMPY_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
                "tensor(float)": np.float32}


def _model_type(run: Run) -> str:
    """``sasrec`` for a run whose ``config.json`` says ``recsft_sasrec``."""
    from recsft.modeling.factory import CONFIG_PREFIX

    return str(run.model_config["model_type"]).removeprefix(CONFIG_PREFIX)


def _version() -> str:
    from recsft import __version__

    return __version__


def _cause(err: BaseException) -> str:
    """The innermost exception of an exporter's error chain, as ``Type: message`` on one line
    (the exporter's own message is mostly advice on filing a bug)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {_one_line(err)}"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:300] + ("..." if len(text) > 300 else "")
