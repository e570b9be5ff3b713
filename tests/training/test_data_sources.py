"""One tiny seeded data set trained from its raw file, a prepared folder, a DataFrame, a
datasets.Dataset and a saved Dataset folder: the same events, hence the same metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsft.errors import RecsftError

PREPROCESS = {"drop_duplicates": True, "user_k": 3}


@pytest.fixture(scope="module")
def events_csv(tmp_path_factory):
    """Synthetic events in time order across users, user ids shuffled (so the order of first
    appearance of users and items differs from any per-user order), the user column renamed."""
    from recsft.data.synthetic import SyntheticConfig, generate_events

    data = generate_events(SyntheticConfig(num_users=300, num_items=60, num_categories=4,
                                           seed=5))
    users = data.events["user_id"].unique()
    shuffled = dict(zip(users, np.random.default_rng(0).permutation(users)))
    frame = data.events.assign(user_id=data.events["user_id"].map(shuffled)).sort_values(
        "timestamp", kind="stable").rename(columns={"user_id": "visitor"})
    path = tmp_path_factory.mktemp("raw") / "events.csv"
    frame.to_csv(path, index=False)
    return path


def _raw(tmp_path, name, source, preprocess=PREPROCESS):
    from tests.conftest import tiny_config

    raw = tiny_config(tmp_path / "runs", epochs=2, eval_every=1).to_dict()
    raw["name"] = name
    raw["data"].update(source=str(source), synthetic={}, preprocess=dict(preprocess),
                       columns={"user_id": "visitor"})
    return raw


def _prepare(events_csv, out, *options):
    from recsft.cli import main

    settings = [f"--preprocess={key}={value}" for key, value in options]
    assert main(["data", "prepare", "--input", str(events_csv), "--column",
                 "user_id=visitor", "--out", str(out), *settings]) == 0


def _options():
    return [(key, str(value).lower()) for key, value in PREPROCESS.items()]


def test_raw_file_prepared_folder_dataframe_and_dataset_give_the_same_metrics(tmp_path,
                                                                               events_csv):
    import datasets

    import recsft
    from recsft.config import RunConfig
    from recsft.training.pipeline import run_training

    prepared = tmp_path / "prepared"
    _prepare(events_csv, prepared, *_options())
    frame = pd.read_csv(events_csv)
    records = {
        "raw": run_training(RunConfig.from_dict(_raw(tmp_path, "raw", events_csv))),
        "prepared": run_training(RunConfig.from_dict(_raw(tmp_path, "prepared", prepared))),
        "frame": recsft.train(_raw(tmp_path, "frame", "synthetic"), data=frame).record,
        "dataset": recsft.train(_raw(tmp_path, "dataset", "synthetic"),
                                data=datasets.Dataset.from_pandas(frame)).record,
    }
    on_disk = {name: json.loads((tmp_path / "runs" / name / "metrics.json").read_text())
               for name in records}
    reference = on_disk["raw"]["test"]
    assert reference and all(value > 0 for value in reference.values())
    for name in records:
        assert on_disk[name]["test"] == reference, name
        assert on_disk[name]["valid"] == on_disk["raw"]["valid"], name
        assert records[name]["test"] == reference, name
    # Where each run's data came from is recorded beside its numbers.
    assert on_disk["prepared"]["dataset"]["source"] == str(prepared)
    digest = on_disk["frame"]["dataset"]["steps"][0]["params"]["sha256"]
    assert len(digest) == 64
    assert on_disk["frame"]["dataset"]["source"] == (
        f"<in-memory pandas.DataFrame sha256:{digest}>")
    assert on_disk["dataset"]["dataset"]["source"] == (
        f"<in-memory datasets.Dataset sha256:{digest}>")
    assert on_disk["frame"]["config"]["data"]["source"] == on_disk["frame"]["dataset"]["source"]


def _log(tmp_path, source, **data):
    from recsft.config import RunConfig
    from recsft.data.sources import load_events

    raw = _raw(tmp_path, "x", source)
    raw["data"].update(data)
    return load_events(RunConfig.from_dict(raw).data)


def test_a_prepared_folder_is_read_without_the_raw_file(tmp_path, events_csv):
    import shutil

    copy = tmp_path / "events.csv"
    shutil.copy(events_csv, copy)
    prepared = tmp_path / "prepared"
    _prepare(copy, prepared, *_options())
    expected = _log(tmp_path, copy).frame
    copy.unlink()
    assert _log(tmp_path, prepared).frame.equals(expected)
    # an empty data.preprocess takes the folder's cleaning as it is
    assert _log(tmp_path, prepared, preprocess={}, columns={}).frame.equals(expected)


def test_a_saved_dataset_folder_reads_like_the_dataset(tmp_path, events_csv):
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_pandas(pd.read_csv(events_csv)).save_to_disk(str(folder))
    assert _log(tmp_path, folder).frame.equals(_log(tmp_path, events_csv).frame)
    datasets.DatasetDict({"train": datasets.load_from_disk(str(folder))}).save_to_disk(
        str(tmp_path / "dict"))
    with pytest.raises(RecsftError, match="a saved datasets.DatasetDict; expected one split"):
        _log(tmp_path, tmp_path / "dict")


def test_a_prepared_folder_cleaned_otherwise_is_refused(tmp_path, events_csv):
    prepared = tmp_path / "prepared"
    _prepare(events_csv, prepared, *_options())
    with pytest.raises(RecsftError, match=r"^data\.preprocess\.user_k: the run config says 5 "
                                          r"but the prepared folder .* was made with 3"):
        _log(tmp_path, prepared, preprocess={**PREPROCESS, "user_k": 5})
    with pytest.raises(RecsftError, match=r"^data\.columns\.user_id: .* says 'uid'"):
        _log(tmp_path, prepared, columns={"user_id": "uid"})


def test_a_folder_that_is_not_a_dataset_is_one_clear_error(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(RecsftError, match=r"data.source .*mine: a folder that is not a prepared "
                                          r"dataset \(no metadata.json"):
        _log(tmp_path, tmp_path / "mine")
    with pytest.raises(RecsftError, match="no such file or folder, and not a named dataset"):
        _log(tmp_path, tmp_path / "absent.csv")


def test_cli_train_on_a_plain_folder_exits_2_with_one_line(tmp_path, capsys):
    import yaml

    from recsft.cli import main

    (tmp_path / "folder").mkdir()
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(_raw(tmp_path, "x", tmp_path / "folder")))
    assert main(["train", "--config", str(config)]) == 2
    # Progress notes ("preparing data: ...") may come first; the error itself is one line.
    lines = [line for line in capsys.readouterr().err.strip().splitlines()
             if not line.startswith("preparing data: ")]
    assert len(lines) == 1, lines
    assert "not a prepared dataset" in lines[0] and "Traceback" not in lines[0]


def test_in_memory_data_errors(tmp_path):
    import datasets

    import recsft

    frame = pd.DataFrame({"visitor": ["a"], "item_id": ["x"], "ts": [1]})
    with pytest.raises(RecsftError, match=r"<pandas.DataFrame>, column 'timestamp': missing "
                                          r"column 'timestamp'"):
        recsft.train(_raw(tmp_path, "m", "synthetic"), data=frame)
    pairs = datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame)})
    with pytest.raises(RecsftError, match=r"pass one split of the DatasetDict, e.g. "
                                          r"data\['train'\]"):
        recsft.train(_raw(tmp_path, "m", "synthetic"), data=pairs)
    with pytest.raises(RecsftError, match="expected a pandas DataFrame"):
        recsft.train(_raw(tmp_path, "m", "synthetic"), data=[("a", "x", 1)])
    assert not (tmp_path / "runs" / "m").exists()


def test_a_config_naming_in_memory_data_cannot_be_read_back(tmp_path):
    with pytest.raises(RecsftError, match="trained on data handed in from Python"):
        _log(tmp_path, "<in-memory pandas.DataFrame sha256:00>")


def test_the_digest_is_of_the_canonical_events():
    from recsft.data.frames import events_from_data, events_sha256

    frame = pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"], "timestamp": [5, 6]})
    log = events_from_data(frame)
    same = events_from_data(frame.astype({"user_id": str}))
    assert events_sha256(log.frame) == events_sha256(same.frame)
    other = events_from_data(frame.assign(item_id=["a", "c"]))
    assert events_sha256(other.frame) != events_sha256(log.frame)
    split = [events_from_data(pd.DataFrame({"user_id": ["u", "v"], "item_id": items,
                                             "timestamp": [5, 6]}))
             for items in (["ab", "c"], ["a", "bc"])]
    assert events_sha256(split[0].frame) != events_sha256(split[1].frame)
