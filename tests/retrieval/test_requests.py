"""JSONL recommendation requests: the schema and its errors, naming file and line."""

from __future__ import annotations

import json

import pytest

from recsft.retrieval.requests import read_requests


def write(tmp_path, lines: list[str]) -> str:
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_reads_every_field_and_skips_blank_lines(tmp_path) -> None:
    path = write(tmp_path, [
        json.dumps({"user_id": "u1", "history": ["a", "b"], "event_types": ["view", "cart"],
                    "timestamps": [1, 2.5], "exclude": ["c"], "k": 3}),
        "",
        json.dumps({"history": []}),
    ])
    first, second = read_requests(path)
    assert (first.line, first.user_id, first.history, first.k) == (1, "u1", ["a", "b"], 3)
    assert first.event_types == ["view", "cart"] and first.timestamps == [1, 2.5]
    assert first.exclude == ["c"]
    assert (second.line, second.history, second.user_id, second.k) == (3, [], None, None)


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", r"requests.jsonl:2: invalid JSON \(.* at column 2\)"),
    ("[1, 2]", "requests.jsonl:2: expected a JSON object with a 'history' list, got list"),
    ('{"user_id": "u"}', "requests.jsonl:2: missing 'history'"),
    ('{"history": "a,b"}', "requests.jsonl:2: 'history' must be a list of strings"),
    ('{"history": ["a", 3]}', "requests.jsonl:2: 'history' must be a list of strings"),
    ('{"history": ["a"], "histroy": []}', r"requests.jsonl:2: unknown field\(s\) \['histroy'\]"),
    ('{"history": ["a"], "event_types": []}', "'event_types' has 0 entries for a history of 1"),
    ('{"history": ["a"], "timestamps": ["x"]}', "'timestamps' must be a list of numbers"),
    ('{"history": ["a"], "timestamps": [1, 2]}', "'timestamps' has 2 entries for a history"),
    ('{"history": ["a"], "k": 0}', "'k' must be a positive integer, got 0"),
    ('{"history": ["a"], "user_id": {"x": 1}}', "'user_id' must be a string or number"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, line: str, message: str) -> None:
    path = write(tmp_path, ['{"history": ["ok"]}', line])
    with pytest.raises(ValueError, match=message):
        read_requests(path)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        read_requests(tmp_path / "none.jsonl")
