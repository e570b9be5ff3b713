"""A run's model for other runtimes.

* :mod:`recsft.export.onnx`: the sequence encoder (model inputs → user vectors) as an ONNX
  graph (:func:`~recsft.export.onnx.export_onnx`, ``recsft export onnx``) and onnxruntime
  running it (:class:`~recsft.export.onnx.OnnxEncoder`);
* :mod:`recsft.export.traceable`: the encoder as one graph for every input, what the exporter
  records.

Nothing heavy is imported until used (torch, onnx and onnxruntime load inside the functions).
"""

from __future__ import annotations

from recsft.export.onnx import ENCODER_ONNX, OnnxEncoder, export_onnx

__all__ = ["ENCODER_ONNX", "OnnxEncoder", "export_onnx"]
