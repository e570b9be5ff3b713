"""The softmax-loss benchmark: three variants timed at a small shape."""

import json
import sys

from tests.scripts.script_module import load_script


def test_softmax_loss_benchmark_times_every_variant(tmp_path, monkeypatch):
    out = tmp_path / "softmax.json"
    monkeypatch.setattr(sys, "argv", ["benchmark_softmax_loss.py", "--shapes", "64x300",
                                      "--rounds", "2", "--threads", "1", "--output", str(out)])
    load_script("benchmark_softmax_loss").main()
    (result,) = json.loads(out.read_text())["results"]
    assert (result["rows"], result["items"]) == (64, 300)
    assert {k: len(v) for k, v in result["seconds"].items()} == {
        "whole": 2, "blocks": 2, "blocks, softmax kept": 2}
    assert result["ratio_kept_to_blocks"] > 0
