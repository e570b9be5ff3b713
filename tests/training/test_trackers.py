"""Training curves reach Accelerate's trackers (TensorBoard by default)."""

import glob
import os
import struct

from recsft.runs.files import TRACKER_DIR  # noqa: E402
from recsft.training.pipeline import run_training, tracker_names  # noqa: E402
from tests.conftest import tiny_config  # noqa: E402


def scalar_tags(folder):
    """Tags and step counts of the scalars in a TensorBoard event file."""
    from tensorboardX.proto import event_pb2

    (path,) = glob.glob(os.path.join(folder, "events.out.tfevents.*"))
    with open(path, "rb") as handle:
        data = handle.read()
    offset, tags = 0, {}
    while offset < len(data):
        (size,) = struct.unpack("<Q", data[offset:offset + 8])
        event = event_pb2.Event()
        event.ParseFromString(data[offset + 12:offset + 12 + size])
        offset += 12 + size + 4
        for value in event.summary.value:
            tags[value.tag] = tags.get(value.tag, 0) + 1
    return tags


def test_tensorboard_receives_loss_validation_and_test(tmp_path):
    config = tiny_config(tmp_path, epochs=2, eval_every=1, logging_steps=5)
    run_training(config)
    tags = scalar_tags(os.path.join(config.run_dir, TRACKER_DIR))
    assert tags["train/loss"] >= 2  # every 5 of the 2 epochs' 20-odd steps
    assert tags["valid/ndcg_10"] == 2 and tags["test/ndcg_10"] == 1
    assert tags["epoch/sequences_per_second"] == 2


def test_report_to_none_writes_no_logs(tmp_path):
    config = tiny_config(tmp_path, epochs=1, report_to="none")
    run_training(config)
    assert not os.path.exists(os.path.join(config.run_dir, TRACKER_DIR))
    assert tracker_names("tensorboard, wandb") == ["tensorboard", "wandb"]
    assert tracker_names(["none"]) == []
