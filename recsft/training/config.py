"""The ``training`` section of a run config (every key: ``docs/config.md``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainingConfig:
    """Optimisation and the masked-item objective.

    Attributes:
        epochs: Maximum passes over the training sequences; early stopping usually ends it.
        batch_size: Sequences per optimizer step, over all processes (each of N processes
            takes ``batch_size / N``), so more processes keep the same optimisation.
        learning_rate: AdamW peak learning rate.
        weight_decay: AdamW weight decay on the weight matrices (not on biases, LayerNorms
            or anything in the embedding module).
        embedding_weight_decay: AdamW (decoupled) weight decay on the embedding tables (items,
            positions, event types, time gaps, categories); 0, the default, leaves them
            undecayed as before. A regulariser against item embeddings over-fitting a sparse
            catalogue: measured in ``docs/tuning.md`` (regularisation), not on by default.
        warmup_ratio: Fraction of steps of linear warm-up.
        scheduler: ``linear``, ``cosine`` or ``constant`` (after warm-up).
        max_grad_norm: Gradient clipping norm (0 disables).
        gradient_accumulation_steps: Steps accumulated before an optimizer step.
        mask_prob: Probability that a position is masked (Cloze).
        last_item_mask_prob: Probability that a sequence instead masks only its last item,
            the inference-time task.
        eval_every: Validate every this many epochs.
        patience: Stop after this many validations without improvement (0: never).
        stopping_smoothing: Early stopping on a smoothed validation curve: the exponential
            moving average ``s = b * s + (1 - b) * value`` (``b`` this setting, ``s`` starting
            at the first validation) must improve within ``patience`` validations; the best
            checkpoint is still the raw best. 0 (default): the raw curve. In ``[0, 1)``.
        metric_for_best: Validation metric that selects the best checkpoint.
        mixed_precision: ``no``, ``fp16`` or ``bf16`` (Accelerate).
        seed: Random seed.
        num_workers: DataLoader workers.
        save_every_steps: Write a resumable checkpoint (``run_dir/checkpoints/step-N``) every
            this many optimizer steps (0: never).
        save_total_limit: Keep this many newest checkpoints.
        deterministic: Ask torch for deterministic algorithms (slower on GPU).
        report_to: Accelerate trackers receiving the training curves: ``tensorboard``
            (default; event files in ``<run>/logs``, read with ``tensorboard --logdir``),
            ``wandb``, ``mlflow``, ``comet_ml``, ..., a list of them, ``all``, or ``none``.
        logging_steps: Log the training loss and learning rate to the trackers every this many
            optimizer steps (0: per epoch only).
        init_from: Start from weights learned elsewhere (:mod:`recsft.training.transfer`): a
            recsft run folder (transfer from another catalogue: everything not tied to item
            ids) or a local pretrained language-model checkpoint (its transformer layers into
            the BERT4Rec / SASRec encoder). With ``epochs: 0`` the initialised model is
            evaluated as it is (zero-shot transfer). A warm-started run builds a fresh
            optimizer and learning-rate schedule: ``warmup_ratio`` applies from its first step.
        init_items: With ``init_from`` a recsft run: ``keep`` warm-starts within the same shop
            (the run's tokenizer grown with the new data's unknown items, appended in order of
            first appearance; every weight copied, item-tied ones included; new items scored
            from their text where the model reads text, else their id rows start at the mean
            of the old items' rows); ``drop`` transfers between catalogues (nothing tied to
            item ids); ``auto``: ``keep`` when the source run read the same data
            (``data.source``, ``path``, ``format``, ``synthetic``), else ``drop``.
        freeze_epochs: Epochs during which the weights copied by ``init_from`` stay frozen
            (freeze-then-unfreeze); 0 trains them from the first step.
        replay_fraction: With ``data.train_since``: the share, in ``[0, 1]``, of the users
            without an event in the newer window whose sequences are still trained on (a
            seeded choice by ``seed``), against forgetting; 0 for none.
    """

    epochs: int = 200
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    embedding_weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    scheduler: str = "linear"
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    mask_prob: float = 0.2
    last_item_mask_prob: float = 0.1
    eval_every: int = 5
    patience: int = 3
    stopping_smoothing: float = 0.0
    metric_for_best: str = "ndcg@10"
    mixed_precision: str = "no"
    seed: int = 42
    num_workers: int = 0
    save_every_steps: int = 0
    save_total_limit: int = 2
    deterministic: bool = False
    report_to: str | list[str] = "tensorboard"
    logging_steps: int = 50
    init_from: str | None = None
    init_items: str = "auto"
    freeze_epochs: int = 0
    replay_fraction: float = 0.0
