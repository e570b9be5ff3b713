"""Hyper-parameter search on validation: ``recsft tune`` (docs/tuning.md).

* :mod:`recsft.tuning.config` — the ``tune:`` section of a run config, checked when read;
* :mod:`recsft.tuning.space` — default spaces per model type, sampling a trial's overrides;
* :mod:`recsft.training.tune` — the Optuna study: trials as normal trainings that never read the
  test split, pruning, resume, budget, the final training of the chosen config;
* :mod:`recsft.tuning.report` — the trials table, plot, CSV/JSON and ``best_config.yaml``.

Optuna is imported only by :mod:`~recsft.training.tune` (the ``tune`` extra).
"""
