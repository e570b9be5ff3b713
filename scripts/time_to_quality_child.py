"""The training side of ``benchmark_time_to_quality.py``: one library trains in one process and
writes, at regular points of its *training* clock, its top-K items for the validation users.

It runs in each library's own virtual environment (RecBole's, RecTools'), so it imports neither
recsft nor anything beyond numpy and torch at the top; recsft's side (``--only`` of the
benchmark script) uses :class:`Points` from here too. The parent computes the metric from the
files with recsft's code; the child's own NDCG@10 (the same formula for one target:
``1 / log2(rank + 2)`` inside the top 10, history filtered) only decides early stopping and
which point's test top-K to keep.

Work folder (written by the parent): ``items.json`` (every item id; the index is the global
item index of every file), ``train.tsv`` (``user item position`` per training event, each
user's events in order), ``valid.json`` / ``test.json`` (``users``, ``targets``: validation
history = the user's training events; test history = those plus the validation target) and
``recbole/ttq/ttq.inter`` (every event, position as the timestamp, for RecBole's own
leave-one-out split).

Output folder: ``points.jsonl`` (one line a point: ``point``, ``train_seconds``,
``wall_seconds``, ``score_seconds``, ``epoch``, ``steps``, ``own_ndcg@10``), ``valid_<n>.npy``
(``(n_valid_users, K)`` int32 global item indices, best first, -1 padding),
``test_best.npy`` (the test top-K at the best validation point), ``done.json``.

Usage (by the parent): ``python time_to_quality_child.py <job.json>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np


class StopTraining(Exception):
    """Raised from a batch hook: the budget is spent or validation stopped improving."""


def read_work(work: str) -> dict:
    """The work folder's items, training sequences and evaluation sets.

    Returns:
        ``items`` (list), ``index`` (item id -> global index), ``train`` (user -> item list),
        ``valid`` / ``test`` (dicts of ``users`` and ``targets``).
    """
    with open(os.path.join(work, "items.json")) as handle:
        items = json.load(handle)
    train: dict[str, list[str]] = {}
    with open(os.path.join(work, "train.tsv")) as handle:
        next(handle)
        for line in handle:
            user, item, _ = line.rstrip("\n").split("\t")
            train.setdefault(user, []).append(item)
    sets = {}
    for name in ("valid", "test"):
        with open(os.path.join(work, f"{name}.json")) as handle:
            sets[name] = json.load(handle)
    return {"items": items, "index": {item: i for i, item in enumerate(items)}, "train": train,
            **sets}


def histories(work: dict, split: str) -> list[list[str]]:
    """Each evaluated user's history: training events (+ the validation target for test)."""
    valid_target = dict(zip(work["valid"]["users"], work["valid"]["targets"]))
    return [work["train"].get(user, []) + ([valid_target[user]] if split == "test" else [])
            for user in work[split]["users"]]


def own_ndcg10(top: np.ndarray, targets: np.ndarray) -> float:
    """Mean NDCG@10 of one target per user. Shapes: top ``(n, K)``, targets ``(n,)``."""
    hit = top[:, :10] == targets[:, None]
    rank = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    return float(np.where(rank >= 0, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0).mean())


def masked_top_k(scores, seen_rows: list[np.ndarray], k: int) -> np.ndarray:
    """Top-``k`` columns of a score matrix after removing each row's seen columns.

    Args:
        scores: ``(B, n_columns)`` float torch tensor (changed in place).
        seen_rows: Per row, the column indices to remove.
        k: How many to keep.

    Returns:
        ``(B, k)`` int64 column indices, best first.
    """
    import torch

    rows = np.concatenate([np.full(len(s), r) for r, s in enumerate(seen_rows)] or [[]])
    cols = np.concatenate(list(seen_rows) or [[]])
    if len(rows):
        scores[torch.as_tensor(rows, dtype=torch.long),
               torch.as_tensor(cols, dtype=torch.long)] = -float("inf")
    return torch.topk(scores, min(k, scores.shape[1]), dim=1).indices.numpy()


#: When this process started (``setup_seconds``: reading the data, building the model).
_BORN = time.perf_counter()


class Points:
    """The training clock, the scoring pauses and the files of each point.

    Call :meth:`start` when training begins and :meth:`check` between optimizer steps (with
    the epoch and the steps so far); it scores when the training clock passed the next point,
    raises :class:`StopTraining` when the budget is spent or validation has not improved for
    ``patience`` points. :meth:`finish` writes the last point (if training ended on its own)
    and ``done.json``.

    Args:
        job: The job (``out``, ``budget_seconds``, ``eval_every_seconds``, ``patience``, ``k``).
        targets: ``(n_valid_users,)`` global item index of each validation target.
        score: ``score(split)`` -> ``(n_users, K)`` global item indices (``split`` is
            ``"valid"`` or ``"test"``), the user order of ``valid.json`` / ``test.json``.
    """

    def __init__(self, job: dict, targets: np.ndarray,
                 score: Callable[[str], np.ndarray]) -> None:
        self.job, self.targets, self.score = job, targets, score
        self.out = job["out"]
        os.makedirs(self.out, exist_ok=True)
        self.born = _BORN
        self.train_seconds = 0.0
        self.score_seconds = 0.0
        self.resumed_at: float | None = None
        self.next_point = float(job["eval_every_seconds"])
        self.points = 0
        self.best = -1.0
        self.best_point: int | None = None
        self.waited = 0
        self.stopped = "epochs"
        self.last = (0, 0)

    def start(self) -> None:
        self.setup_seconds = time.perf_counter() - self.born
        self.resumed_at = time.perf_counter()

    def _clock(self) -> float:
        return self.train_seconds + (time.perf_counter() - self.resumed_at)

    def check(self, epoch: int, steps: int) -> None:
        """Between optimizer steps: score if a point is due, stop if the run is over."""
        self.last = (epoch, steps)
        now = self._clock()
        if now < self.next_point and now < self.job["budget_seconds"]:
            return
        self.train_seconds = now
        while self.next_point <= now:
            self.next_point += self.job["eval_every_seconds"]
        self._point(epoch, steps)
        if now >= self.job["budget_seconds"]:
            self.stopped = "budget"
            raise StopTraining
        if self.job["patience"] and self.waited >= self.job["patience"]:
            self.stopped = "patience"
            raise StopTraining
        self.resumed_at = time.perf_counter()

    def _point(self, epoch: int, steps: int) -> None:
        paused = time.perf_counter()
        top = self.score("valid").astype(np.int32)
        value = own_ndcg10(top, self.targets)
        np.save(os.path.join(self.out, f"valid_{self.points}.npy"), top)
        if value > self.best:
            self.best, self.best_point, self.waited = value, self.points, 0
            np.save(os.path.join(self.out, "test_best.npy"), self.score("test").astype(np.int32))
        else:
            self.waited += 1
        seconds = time.perf_counter() - paused
        self.score_seconds += seconds
        with open(os.path.join(self.out, "points.jsonl"), "a") as handle:
            handle.write(json.dumps({
                "point": self.points, "train_seconds": round(self.train_seconds, 3),
                "wall_seconds": round(time.perf_counter() - self.born, 3),
                "score_seconds": round(seconds, 3), "epoch": epoch, "steps": steps,
                "own_ndcg@10": value}) + "\n")
        print(f"point {self.points}: train {self.train_seconds:.1f}s epoch {epoch} "
              f"step {steps} ndcg@10 {value:.4f}", file=sys.stderr, flush=True)
        self.points += 1

    def finish(self, extra: dict) -> None:
        """After training: a last point when it ended on its own, then ``done.json``."""
        if self.stopped == "epochs":
            self.train_seconds = self._clock()
            self._point(*self.last)
        with open(os.path.join(self.out, "done.json"), "w") as handle:
            json.dump({"stopped": self.stopped, "points": self.points,
                       "best_point": self.best_point, "own_best_ndcg@10": self.best,
                       "train_seconds": self.train_seconds, "score_seconds": self.score_seconds,
                       "setup_seconds": self.setup_seconds,
                       "wall_seconds": time.perf_counter() - self.born, **extra}, handle)


def _targets(work: dict, split: str = "valid") -> np.ndarray:
    return np.array([work["index"].get(t, -2) for t in work[split]["targets"]])


def run_recbole(job: dict) -> None:
    """RecBole 1.2.1: its own trainer's ``_train_epoch`` over its own data loaders (its
    leave-one-out split of ``ttq.inter``, checked target by target against ``valid.json`` and
    ``test.json``); the points are taken between its batches."""
    import tempfile

    import torch
    from recbole_driver import build

    torch.set_num_threads(job["threads"])
    work = read_work(job["work"])
    built = build(job["recbole_model"], "ttq", {
        "data_path": os.path.join(job["work"], "recbole"), "checkpoint_dir": tempfile.mkdtemp(),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        # Its full-ranking loader takes eval_batch_size // items users a batch: 256 users.
        "eval_batch_size": 256 * (len(work["items"]) + 1), **job["params"]},
        job.get("anomaly", "off"))
    config, dataset, model, trainer = built.config, built.dataset, built.model, built.trainer
    train_data, valid_data, test_data = built.train, built.valid, built.test
    uid, iid = dataset.uid_field, dataset.iid_field
    to_global = np.array([work["index"].get(token, -1) if i else -1
                          for i, token in enumerate(dataset.field2id_token[iid])])
    internal = {token: i for i, token in enumerate(dataset.field2id_token[iid])}
    seen = {split: [np.array([internal[i] for i in h if i in internal], dtype=np.int64)
                    for h in histories(work, split)] for split in ("valid", "test")}
    rows = {split: {u: r for r, u in enumerate(work[split]["users"])}
            for split in ("valid", "test")}
    loaders = {"valid": valid_data, "test": test_data}
    mismatches = {"valid": 0, "test": 0}
    checked = {"valid": False, "test": False}

    def score(split: str) -> np.ndarray:
        model.eval()
        out = np.full((len(rows[split]), job["k"]), -1, dtype=np.int64)
        targets = work[split]["targets"]
        with torch.no_grad():
            for interaction, _, _, _ in loaders[split]:
                users = dataset.field2id_token[uid][interaction[uid].numpy()]
                index = [rows[split][u] for u in users]
                scores = model.full_sort_predict(interaction).view(len(users), -1)
                scores[:, 0] = -float("inf")  # the padding item
                top = masked_top_k(scores, [seen[split][r] for r in index], job["k"])
                out[index] = to_global[top]
                if not checked[split]:
                    got = dataset.field2id_token[iid][interaction[iid].numpy()]
                    mismatches[split] += sum(g != targets[r] for g, r in zip(got, index))
        if not checked[split]:
            checked[split] = True
            unscored = int((out[:, 0] == -1).sum())
            if mismatches[split] or unscored:
                raise SystemExit(f"RecBole's {split} split differs from ours: "
                                 f"{mismatches[split]} targets differ, {unscored} users missing")
        model.train()
        return out

    points = Points(job, _targets(work), score)
    state = {"steps": 0, "epoch": 0}

    class Batches:
        """RecBole's training loader, checking the clock before each batch."""

        shuffle = train_data.shuffle
        sampler = getattr(train_data, "sampler", None)

        def __len__(self) -> int:
            return len(train_data)

        def __iter__(self):
            for batch in train_data:
                points.check(state["epoch"], state["steps"])
                yield batch
                state["steps"] += 1

    points.start()
    try:
        for epoch in range(config["epochs"]):
            state["epoch"] = epoch
            trainer._train_epoch(Batches(), epoch, show_progress=False)
    except StopTraining:
        pass
    import recbole

    points.finish({"versions": {"recbole": recbole.__version__, "torch": torch.__version__,
                                "numpy": np.__version__},
                   "anomaly_detection": torch.is_anomaly_enabled(),
                   "targets_per_epoch": len(train_data.dataset),
                   "split_check": {"valid_targets_differing": mismatches["valid"],
                                   "test_targets_differing": mismatches["test"]},
                   "config": {k: config[k] for k in (
                       "hidden_size", "inner_size", "n_layers", "n_heads",
                       "hidden_dropout_prob", "attn_dropout_prob", "MAX_ITEM_LIST_LENGTH",
                       "train_batch_size", "learning_rate", "weight_decay", "epochs",
                       "loss_type", "mask_ratio", "seed") if k in config}})


#: The Lightning callback of the RecTools run (its trainer function must be importable by
#: name: RecTools records it in the model's config).
_CALLBACKS: list = []


def rectools_trainer(epochs: int):
    """RecTools' default trainer (its ``_init_trainer``) with the points callback added, no
    minimum number of epochs, on the CPU."""
    from pytorch_lightning import Trainer

    return Trainer(max_epochs=epochs, deterministic=False, enable_progress_bar=False,
                   enable_model_summary=False, logger=False, enable_checkpointing=False,
                   devices=1, accelerator="cpu", callbacks=list(_CALLBACKS))


def run_rectools(job: dict) -> None:
    """RecTools (SASRecModel / BERT4RecModel on Lightning): one ``fit`` with a callback that
    takes the points between batches, scoring through the model's own ``recommend``
    (``filter_viewed=True``) on the training interactions (validation) or the training
    interactions plus the validation targets (test)."""
    import pandas as pd
    import rectools
    import torch
    from pytorch_lightning.callbacks import Callback
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.models import BERT4RecModel, SASRecModel

    torch.set_num_threads(job["threads"])
    torch.manual_seed(job.get("seed", 42))
    work = read_work(job["work"])
    rows = [(u, i, n) for u, items in work["train"].items() for n, i in enumerate(items)]
    frame = pd.DataFrame(rows, columns=[Columns.User, Columns.Item, "position"])
    frame[Columns.Weight] = 1.0
    frame[Columns.Datetime] = pd.to_datetime(frame["position"], unit="s")
    frame = frame.drop(columns="position")
    valid_target = dict(zip(work["valid"]["users"], work["valid"]["targets"]))
    extra = pd.DataFrame({Columns.User: list(valid_target),
                          Columns.Item: list(valid_target.values())})
    extra[Columns.Weight] = 1.0
    extra[Columns.Datetime] = pd.to_datetime(
        [len(work["train"].get(u, [])) for u in extra[Columns.User]], unit="s")
    datasets = {"valid": Dataset.construct(frame),
                "test": Dataset.construct(pd.concat([frame, extra], ignore_index=True))}
    classes = {"sasrec": SASRecModel, "bert4rec": BERT4RecModel}
    params = dict(job["params"])
    epochs = int(params.pop("epochs"))

    class PointsCallback(Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            state["module"] = pl_module
            points.start()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            points.check(trainer.current_epoch, trainer.global_step)

    _CALLBACKS.append(PointsCallback())  # before the model: its __init__ builds the trainer
    model = classes[job["model"]](**params, epochs=epochs, get_trainer_func=rectools_trainer,
                                  get_trainer_func_kwargs={"epochs": epochs})
    state = {"module": None}

    def score(split: str) -> np.ndarray:
        users = work[split]["users"]
        model.is_fitted = True  # mid-training: recommend() from the weights as they are
        try:
            reco = model.recommend(users=users, dataset=datasets[split], k=job["k"],
                                   filter_viewed=True, on_unsupported_targets="ignore")
        finally:
            model.is_fitted = False
            state["module"].train()
        out = np.full((len(users), job["k"]), -1, dtype=np.int64)
        row = {u: r for r, u in enumerate(users)}
        r = reco[Columns.User].map(row).to_numpy()
        out[r, reco[Columns.Rank].to_numpy() - 1] = [work["index"][i] for i in reco[Columns.Item]]
        return out

    points = Points(job, _targets(work), score)

    with contextlib.suppress(StopTraining):
        model.fit(datasets["valid"])
    import pytorch_lightning

    points.finish({"versions": {"rectools": rectools.__version__, "torch": torch.__version__,
                                "pytorch_lightning": pytorch_lightning.__version__,
                                "pandas": pd.__version__,
                                "numpy": np.__version__},
                   "config": {**job["params"], "model": type(model).__name__}})


def main() -> None:
    with open(sys.argv[1]) as handle:
        job = json.load(handle)
    runners = {"recbole": run_recbole, "rectools": run_rectools}
    runners[job["library"]](job)


if __name__ == "__main__":
    main()
