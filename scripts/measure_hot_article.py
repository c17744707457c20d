"""Time the public pages of one very hot article, in process, on a throwaway database.

    .venv/bin/python scripts/measure_hot_article.py --comments 300000

Builds a SQLite database (or uses --database-url, e.g. a scratch PostgreSQL
database) with one article carrying N approved comments (70 % thread starters,
30 % replies under the first 1,000), then prints the time of each request:
first (cold: the thread count is computed) and warm (median of --repeat).
Nothing here talks to the network.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from service import create_app  # noqa: E402
from service.extensions import db  # noqa: E402
from service.models import Article, Comment  # noqa: E402

PATHS = (
    "/embed/hot",
    "/embed/hot?sort=popular",
    "/embed/hot?page=1000&sort=popular",
    "/embed/hot?page=10000&sort=popular",
    "/api/v1/articles/hot/comments",
    "/api/v1/articles/hot/comments?page=1000&sort=popular",
    "/api/v1/counts?article=hot",
)


def fill(url: str, comments: int) -> None:
    app = create_app({"SECRET_KEY": "m" * 40, "DATABASE_URL": url, "LOG_JSON": False})
    with app.app_context():
        upgrade()
        article = Article(key="hot", title="hot", approved_count=comments)
        db.session.add(article)
        db.session.flush()
        now = datetime.now(UTC)
        rng = random.Random(7)
        rows = []
        for i in range(comments):
            reply = i >= 1000 and rng.random() >= 0.7
            rows.append(
                {
                    "article_id": article.id,
                    "author": "读者",
                    "body": "评论正文" * 10,
                    "status": "approved",
                    "created_at": now - timedelta(seconds=comments - i),
                    "likes": rng.randint(0, 50),
                    "root_id": rng.randint(1, 1000) if reply else None,
                }
            )
            if len(rows) == 20_000:
                db.session.execute(db.insert(Comment), rows)
                rows = []
        if rows:
            db.session.execute(db.insert(Comment), rows)
        db.session.commit()


def measure(url: str, repeat: int) -> None:
    app = create_app(
        {"SECRET_KEY": "m" * 40, "DATABASE_URL": url, "LOG_JSON": False, "RATELIMIT_ENABLED": False}
    )
    client = app.test_client()
    print(f"{'first ms':>9} {'warm ms':>9}  status  request")
    for path in PATHS:
        started = time.perf_counter()
        status = client.get(path).status_code
        first = (time.perf_counter() - started) * 1000
        warm = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(path)
            warm.append((time.perf_counter() - started) * 1000)
        print(f"{first:9.1f} {statistics.median(warm):9.1f}  {status:6d}  {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--database-url", help="an empty scratch database (default: SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/hot.db"
        started = time.perf_counter()
        fill(url, args.comments)
        print(f"{args.comments} comments written in {time.perf_counter() - started:.1f} s")
        measure(url, args.repeat)


if __name__ == "__main__":
    main()
