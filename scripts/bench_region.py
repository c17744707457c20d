"""How much IP 属地 costs a submission: the first lookup (maps the data) and each later one.

    .venv/bin/python scripts/bench_region.py [--lookups 100000]

Looks up random public IPv4 addresses (a fixed seed, so runs compare) in one
process, as a worker does, and prints microseconds per lookup.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import region  # noqa: E402


def random_public(rng: random.Random, count: int) -> list[str]:
    found: list[str] = []
    while len(found) < count:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global:
            found.append(str(address))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    addresses = random_public(random.Random(11), args.lookups)

    started = time.perf_counter()
    first = region.lookup("114.114.114.114")
    first_ms = (time.perf_counter() - started) * 1000

    per_lookup = []
    found = 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        results = [region.lookup(a) for a in addresses]
        per_lookup.append((time.perf_counter() - started) / len(addresses) * 1e6)
        found = sum(r is not None for r in results)
    print(
        f"first lookup (maps {region.data_path().stat().st_size / 1e6:.1f} MB): "
        f"{first_ms:.2f} ms -> {first}"
    )
    print(
        f"{args.lookups} random public IPv4 x {args.rounds} rounds: "
        f"median {statistics.median(per_lookup):.1f} us/lookup "
        f"(min {min(per_lookup):.1f}, max {max(per_lookup):.1f}); "
        f"{found / len(addresses):.1%} with a region"
    )


if __name__ == "__main__":
    main()
