"""Write a synthetic e-commerce event log to disk, streamed one chunk of users at a time.

Writes ``events.csv``, ``items.csv``, ``segments.csv`` and ``sessions.csv`` into ``--out``
with :func:`recsft.data.synthetic.write_events_csv` (memory stays bounded by one chunk of
users), then prints the counts and the seconds it took. ``--num-events`` picks the number of
users from the config's expected events per user (about 29.2 with the default rates).

Usage:
    python scripts/generate_synthetic.py --out /tmp/synth --num-users 3000
    python scripts/generate_synthetic.py --out /tmp/synth10m --num-users 342100
    python scripts/generate_synthetic.py --out /tmp/synth --num-events 1000000 --search-rate 0.3
"""

from __future__ import annotations

import argparse
import math
import time

from recsft.data.synthetic import SyntheticConfig, expected_events_per_user, write_events_csv


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--num-users", type=int, help="number of users")
    size.add_argument(
        "--num-events", type=int, help="approximate number of events (sets the number of users)"
    )
    parser.add_argument("--num-items", type=int, default=SyntheticConfig.num_items)
    parser.add_argument("--num-categories", type=int, default=SyntheticConfig.num_categories)
    parser.add_argument("--seed", type=int, default=SyntheticConfig.seed)
    parser.add_argument("--search-rate", type=float, default=0.0)
    parser.add_argument("--repeat-buy-rate", type=float, default=0.0)
    parser.add_argument("--users-per-chunk", type=int, default=100_000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Generate the files and print what was written.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when omitted.
    """
    args = parse_args(argv)
    params = {
        "num_items": args.num_items,
        "num_categories": args.num_categories,
        "seed": args.seed,
        "search_rate": args.search_rate,
        "repeat_buy_rate": args.repeat_buy_rate,
    }
    num_users = args.num_users
    if num_users is None:
        per_user = expected_events_per_user(SyntheticConfig(num_users=1, **params))
        num_users = max(1, math.ceil(args.num_events / per_user))
    config = SyntheticConfig(num_users=num_users, **params)

    start = time.perf_counter()
    counts = write_events_csv(
        f"{args.out}/events.csv", config, users_per_chunk=args.users_per_chunk
    )
    seconds = time.perf_counter() - start
    for name, count in counts.items():
        print(f"{name:>9}: {count:,}")
    print(f"  seconds: {seconds:.1f}")
    print(f"  written: {args.out}/events.csv, items.csv, segments.csv, sessions.csv")


if __name__ == "__main__":
    main()
