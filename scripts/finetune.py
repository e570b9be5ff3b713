"""Train a recsft model from a YAML run config, on one or many devices.

Usage:
    accelerate launch scripts/finetune.py --config configs/demo.yaml
    # two CPU processes over gloo on a machine without GPU (--cpu would start only one):
    accelerate launch --multi_gpu --num_processes 2 scripts/finetune.py --config configs/demo.yaml
    RECSFT_DATA_DIR=../shared/data python scripts/finetune.py \
        --config configs/bert4rec-beauty.yaml --set training.epochs=5

The same function runs behind ``recsft train``.
"""

import sys

from recsft.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
