"""Check that recsft's leave-one-out split of ``amazon-scientific`` is the release's own split.

Reads the config (default ``configs/sasrec-scientific.yaml``) through the registry (set
``RECSFT_DATA_DIR`` or ``data.path``), splits the events with recsft's leave-one-out, and
compares, for every user, the test and validation rows with the release's
``Scientific.test.inter`` / ``Scientific.valid.inter`` (history and target, indices mapped
through ``Scientific.item2index`` / ``.user2index``). Prints one JSON object; exits 1 on any
difference but one: the release cuts every history to its newest 50 items, so for a user with
more than 51 events the validation history can hold older items than the test file (from which
recsft rebuilds the sequence) keeps; such a validation history counts as matching when recsft's
is the newest part of the release's (``valid_vs_release.history_truncated``).

Usage:
    RECSFT_DATA_DIR=/path/to/data python scripts/check_scientific_split.py [config.yaml]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def release_rows(path: Path) -> dict[str, tuple[list[str], str]]:
    """The rows of a sequential ``.inter`` file, ids mapped: user -> (history, target)."""
    from recsft.data.events import EventLog
    from recsft.data.readers import read_events

    log: EventLog = read_events(path, format="recbole")
    sequences = log.sequences()
    return {user: (items[:-1], items[-1])
            for user, items in zip(sequences.user_ids, sequences.items)}


def compare(split: Any, rows: dict[str, tuple[list[str], str]]) -> dict[str, int]:
    """Users whose split row differs from the release's (targets; histories; histories that
    differ only by older items recsft cannot see)."""
    ours = {u: (h, t) for u, h, t in zip(split.user_ids, split.histories, split.targets)}
    common = [u for u in rows if u in ours]

    def truncated(user: str) -> bool:
        """The release's history is longer and ends with recsft's (older items it kept)."""
        mine, theirs = ours[user][0], rows[user][0]
        return len(theirs) > len(mine) and theirs[len(theirs) - len(mine):] == mine

    return {
        "users": len(ours),
        "release_users": len(rows),
        "missing_users": len(set(rows) - set(ours)),
        "extra_users": len(set(ours) - set(rows)),
        "target_mismatches": sum(ours[u][1] != rows[u][1] for u in common),
        "history_mismatches": sum(ours[u][0] != rows[u][0] and not truncated(u)
                                  for u in common),
        "history_truncated": sum(ours[u][0] != rows[u][0] and truncated(u) for u in common),
    }


def main(argv: list[str]) -> int:
    from recsft.config import RunConfig
    from recsft.data.registry import compare_with_published, locate
    from recsft.data.sources import load_events
    from recsft.data.split import leave_one_out

    config = RunConfig.from_yaml(argv[0] if argv else "configs/sasrec-scientific.yaml")
    data = config.data
    log = load_events(data)
    splits = leave_one_out(log.sequences())
    folder = locate(data.source, data.path, download=False).parent
    stats = log.stats()
    test = compare(splits.test, release_rows(folder / "Scientific.test.inter"))
    valid = compare(splits.valid, release_rows(folder / "Scientific.valid.inter"))
    report = {
        "config": config.name,
        "source": data.source,
        "stats": stats,
        "published": compare_with_published(data.source, stats),
        "split": {"protocol": splits.protocol, "train_users": len(splits.train),
                  "train_events": sum(len(s) for s in splits.train.items),
                  "valid_users": len(splits.valid), "test_users": len(splits.test)},
        "test_vs_release": test,
        "valid_vs_release": valid,
    }
    same = all(part[k] == 0 for part in (test, valid)
               for k in ("missing_users", "extra_users", "target_mismatches",
                         "history_mismatches"))
    report["split_matches_release"] = same
    print(json.dumps(report, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
