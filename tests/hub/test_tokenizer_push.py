"""A BehaviorTokenizer pushed with ``push_to_hub`` and downloaded again from the stand-in Hub
(:mod:`tests.hub.fake_hub`) answers every standard call as the fresh one does (issue 22)."""

from __future__ import annotations

from tests.test_tokenizer_roundtrip import (
    assert_same_pipeline,
    assert_standard_calls,
    make_fresh,
    make_histories,
)


def test_pushed_tokenizer_downloads_with_the_same_ids(fake_hub):
    from transformers import AutoTokenizer

    import recsft  # noqa: F401  (registers BehaviorTokenizer with AutoTokenizer)
    from recsft.tokenization import BehaviorTokenizer

    # The Hub gives a new repository a first commit (.gitattributes); FakeHub's create_repo
    # does not, and transformers' push_to_hub reads the repository's README.md before uploading.
    fake_hub.put_repo("alice/behavior-tokenizer", {".gitattributes": b"*.bin filter=lfs\n"})
    fresh = make_fresh()
    fresh.push_to_hub("alice/behavior-tokenizer", token="hf_test")
    [commit] = fake_hub.commits
    assert {"tokenizer.json", "tokenizer_config.json"} <= set(commit["files"])

    for cls in (AutoTokenizer, BehaviorTokenizer):
        loaded = cls.from_pretrained("alice/behavior-tokenizer", token="hf_test")
        assert_same_pipeline(loaded, fresh)
        assert_standard_calls(loaded, fresh, make_histories())
    resolved = {path for method, path in fake_hub.paths() if method == "GET"}
    assert "/alice/behavior-tokenizer/resolve/main/tokenizer.json" in resolved
    uploads = [r for r in fake_hub.requests if r.method == "POST"]
    assert uploads and all(r.headers.get("authorization") == "Bearer hf_test" for r in uploads)
