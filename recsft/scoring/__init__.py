"""Scoring: how a history becomes model inputs, and how users become scores over the catalogue.

Used by evaluation (:mod:`recsft.evaluation`) and by serving (:mod:`recsft.retrieval`) alike;
neither depends on the other. One concept per module:

- :mod:`~recsft.scoring.inputs` — the one rule that turns histories into a model's inputs
  (:func:`~recsft.scoring.inputs.model_inputs`): the newest events of the window, ``[MASK]`` or
  not, time gaps or not, read from the model's config; unknown items read as ``[UNK]``;
- :mod:`~recsft.scoring.vectors` — :data:`~recsft.scoring.vectors.Scorer` and
  :class:`~recsft.scoring.vectors.VectorScorer` (inner product with a fixed item matrix);
- :mod:`~recsft.scoring.model` — :class:`~recsft.scoring.model.ModelScorer`, a trained model's
  scorer (:func:`~recsft.scoring.model.model_scorer`);
- :mod:`~recsft.scoring.popularity` — the most-popular baseline as a scorer;
- :mod:`~recsft.scoring.mixture` — a model's softmax mixed with item transitions;
- :mod:`~recsft.scoring.top_k` — the exact top-K of a dense score matrix, in blocks on the CPU;
- :mod:`~recsft.scoring.exact_search` — the exact top-K through a flat FAISS index with per-user
  exclusions;
- :mod:`~recsft.scoring.slices` — CPU encoding in row slices, side by side on the cores.

The modules import torch; nothing is imported here, so that ``import recsft.scoring`` stays
light.
"""
