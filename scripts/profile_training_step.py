"""Where a training step's time goes: torch's profiler over a few optimizer steps of a config.

The batches are the training run's own (its data preparation, collator and length-grouped
batches, an epoch's first ones); each step is forward with the loss, backward, clipping and
the AdamW update, as in :mod:`recsft.training.loop`. Two passes over the same batches: one
timed phase by phase (no profiler), one under torch's profiler for the operators' self CPU
time (the top 15). Writes ``benchmarks/results/profile_<name>.json`` with the machine and the
config.

Usage:
    RECSFT_DATA_DIR=../shared/data python scripts/profile_training_step.py \\
        --config configs/sasrec-ml100k.yaml --set training.batch_size=256 --steps 6
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

def prepare_steps(config_path: str, overrides: list[str], count: int) -> tuple:
    """A config's model (training mode), its first ``count`` training batches and its optimizer.

    The batches are the run's own: its data preparation, collator and masking, and
    length-grouped batches, over as many epochs as ``count`` needs (a small catalogue has few
    batches an epoch). Seeded (``torch.manual_seed(0)``, the config's seed for the order).

    Returns:
        ``(config, tokenizer, model, batches, optimizer)``.
    """
    import torch

    from recsft.config import RunConfig
    from recsft.modeling.factory import create_model
    from recsft.training.collators import training_batches
    from recsft.training.loop import build_optimizer
    from recsft.training.pipeline import prepare_data
    from recsft.training.samplers import LengthGroupedBatchSampler

    torch.manual_seed(0)
    config = RunConfig.from_yaml(config_path, overrides)
    prepared = prepare_data(config)
    tokenizer, training = prepared.tokenizer, config.training
    model = create_model(config, tokenizer, prepared.item_categories, prepared.item_text)
    model.train()
    collator, masking = training_batches(config, tokenizer)

    def collate(rows: list) -> dict:
        batch = collator(rows)
        return batch if masking is None else masking(batch)
    rows = prepared.train_dataset
    sampler = LengthGroupedBatchSampler([len(ids) for ids in rows["input_ids"]],
                                        training.batch_size, seed=training.seed)
    batches, epoch = [], 0
    while len(batches) < count:
        sampler.set_epoch(epoch)
        batches += [collate([rows[i] for i in indices]) for indices in sampler]
        epoch += 1
    return config, tokenizer, model, batches[:count], build_optimizer(model, training)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--steps", type=int, default=6, help="profiled steps (after 2 warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output")
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from recsft.environment import environment
    from recsft.fileio import atomic_write_text

    torch.set_num_threads(args.threads)
    config, tokenizer, model, batches, optimizer = prepare_steps(args.config, args.overrides,
                                                                 args.steps + 2)
    training = config.training
    phases = {"forward and loss": 0.0, "backward": 0.0, "clip and optimizer": 0.0}

    def step(batch: dict, timing: bool = False) -> None:
        marks = [time.perf_counter()]
        loss = model(**batch).loss
        marks.append(time.perf_counter())
        loss.backward()
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(model.parameters(), training.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        marks.append(time.perf_counter())
        if timing:
            for name, a, b in zip(phases, marks, marks[1:]):
                phases[name] += b - a

    for batch in batches[:2]:
        step(batch)
    timed = batches[2:]
    for batch in timed:
        step(batch, timing=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in timed:
            step(batch)
    ops = sorted(((e.self_cpu_time_total, e.key, e.count) for e in prof.key_averages()),
                 reverse=True)
    total = sum(us for us, _, _ in ops) or 1.0
    n = max(len(timed), 1)
    shapes = [list(b["input_ids"].shape) for b in timed]
    record = {
        "config": config.to_dict(), "command": " ".join(sys.argv),
        "environment": environment(), "steps": len(timed),
        "seconds_per_step": sum(phases.values()) / n,
        "phases": {k: {"seconds_per_step": v / n, "share": v / (sum(phases.values()) or 1)}
                   for k, v in phases.items()},
        "batch_shapes": shapes, "num_items": tokenizer.num_items,
        "labelled_positions_per_step": sum(int((b["labels"] != -100).sum())
                                           for b in timed) / n,
        "input_slots_per_step": sum(a * b for a, b in shapes) / n,
        "top_ops": [{"op": key, "share_of_profiled_cpu": us / total, "calls": calls}
                    for us, key, calls in ops[:15]],
    }
    out = args.output or os.path.join(ROOT, "benchmarks", "results",
                                      f"profile_{config.name}.json")
    atomic_write_text(out, json.dumps(record, indent=2, default=str) + "\n")
    print(f"{record['seconds_per_step']:.3f} s/step, batches {shapes}, "
          f"{record['labelled_positions_per_step']:.0f} labelled positions per step")
    for name, value in record["phases"].items():
        print(f"  {name:20s} {value['share']:6.1%}  {value['seconds_per_step']:.3f} s/step")
    for op in record["top_ops"][:8]:
        print(f"  {op['op']:36s} {op['share_of_profiled_cpu']:6.1%}  ({op['calls']} calls)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
