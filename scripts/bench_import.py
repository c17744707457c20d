#!/usr/bin/env python3
"""Benchmark: import a generated Isso database of N comments, twice.

Builds an Isso database with isso's own schema (isso 0.14.0 creates the empty
database, in the virtual environment the tests use, ``tests/.isso-venv``),
fills it with ``--comments`` comments over ``--threads`` articles (a third of
them replies, some pending, some deleted-with-replies, addresses cut to /24 as
isso stores them), migrates an empty target database, then times

1. the import (``service.importers``, the code behind ``flask import isso``);
2. the same import again, which must add nothing;

and checks that every comment arrived once and every article's public count
equals its approved comments. Exits 1 if a check fails.

The target is a new SQLite file by default. ``--database-url`` points it at
PostgreSQL instead: **every table in that database is dropped first**, so give
it a database of its own (``createdb -h 127.0.0.1 -U postgres comments_bench``).

Examples::

    .venv/bin/python scripts/bench_import.py --comments 200000
    .venv/bin/python scripts/bench_import.py --comments 200000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/comments_bench
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from flask_migrate import upgrade  # noqa: E402
from isso_venv import isso_python  # noqa: E402 - the tests' isso installation
from sqlalchemy import func, select, text  # noqa: E402

from service import create_app, importers  # noqa: E402
from service.extensions import db  # noqa: E402
from service.models import Article, Comment, Status  # noqa: E402

SCHEMA = """
from isso import config
from isso.db import SQLite3
import sys
SQLite3(sys.argv[1], config.new({"general": {"dbpath": sys.argv[1], "max-age": "1h"}}))
"""
WORDS = "政策 解读 及时 希望 公布 办理 流程 道路 改造 工程 通车 期待 支持 点赞 关注 服务".split()


def make_isso_db(path: Path, comments: int, threads: int, seed: int) -> dict[str, int]:
    """An Isso database (isso's schema, made by isso) with generated comments."""
    subprocess.run([str(isso_python()), "-c", SCHEMA, str(path)], check=True)
    rng = random.Random(seed)
    start = time.time() - 3 * 365 * 86400
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO threads (id, uri, title) VALUES (?, ?, ?)",
            [(t, f"/xwzx/2024/{60000 + t}.html", f"第 {t} 篇新闻") for t in range(1, threads + 1)],
        )
        tops: dict[int, list[int]] = {}
        rows = []
        expected = {"approved": 0, "pending": 0, "deleted": 0}
        for comment_id in range(1, comments + 1):
            thread = rng.randint(1, threads)
            parent = None
            if tops.get(thread) and rng.random() < 0.35:
                parent = rng.choice(tops[thread])
            elif parent is None:
                tops.setdefault(thread, []).append(comment_id)
            roll = rng.random()
            mode = 1 if roll < 0.9 else 2 if roll < 0.98 else 4
            expected["approved" if mode == 1 else "pending" if mode == 2 else "deleted"] += 1
            body = "".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
            rows.append(
                (
                    thread,
                    comment_id,
                    parent,
                    start + comment_id * 400.0,
                    None,
                    mode,
                    f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0",
                    "" if mode == 4 else body,
                    None if mode == 4 else f"读者{rng.randint(1, 5000)}",
                    None,
                    None,
                    rng.randint(0, 9),
                    0,
                    bytes(256),
                    0,
                )
            )
        connection.executemany(
            "INSERT INTO comments (tid, id, parent, created, modified, mode, remote_addr, text,"
            " author, email, website, likes, dislikes, voters, notification)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--database-url", help="target database (all its tables are dropped)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    source = work / "isso.db"
    started = time.perf_counter()
    expected = make_isso_db(source, args.comments, args.threads, args.seed)
    print(f"generated {args.comments} isso comments in {time.perf_counter() - started:.1f} s")

    url = args.database_url or f"sqlite:///{work / 'comments.db'}"
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-secret-key-bench-secret-key",
            "LOG_LEVEL": "WARNING",
        }
    )
    failures = []
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade()
        backend = db.engine.dialect.name
        options = importers.check_options(batch_size=args.batch_size)
        for run in ("first", "second"):
            cpu = time.process_time()
            opened = importers.open_source("isso", source)
            summary = importers.import_source(opened, options)
            cpu = time.process_time() - cpu
            print(
                f"{backend} {run} run: {summary.imported} imported, "
                f"{sum(summary.skipped.values())} skipped, {summary.seconds:.1f} s, "
                f"{summary.rate:,.0f} comments/s (this process used {cpu:.1f} s of CPU)"
            )
            if run == "second" and summary.imported:
                failures.append(f"the second run imported {summary.imported}")
        stored = db.session.execute(select(func.count(Comment.id))).scalar_one()
        public = db.session.execute(
            select(func.count(Comment.id)).where(
                Comment.status == Status.APPROVED, Comment.deleted_at.is_(None)
            )
        ).scalar_one()
        counted = db.session.execute(select(func.sum(Article.approved_count))).scalar_one()
        replies = db.session.execute(
            select(func.count(Comment.id)).where(Comment.parent_id.is_not(None))
        ).scalar_one()
    if stored != args.comments:
        failures.append(f"{stored} comments stored, {args.comments} expected")
    if public != expected["approved"] or counted != public:
        failures.append(f"public {public}, counted {counted}, expected {expected['approved']}")
    agree = counted == public
    print(f"stored {stored} comments ({replies} replies), {public} public, counts agree: {agree}")
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
