"""Generate the benchmark's data into an Isso database, with Isso's own schema.

Run with the Python of the Isso venv (``bench/run.py`` does): the tables come
from ``isso.db.SQLite3`` itself, then the rows are written in bulk. The data
is deterministic for a seed:

* ``--articles`` threads with URIs ``/news/<100000 + n>.html`` (the importer's
  key is ``100000 + n``), titles in Chinese;
* ``--comments`` comments, spread over the threads by a log-normal law (median
  about ``--comments / --articles * 0.4``, so ~8 for 200,000 over 10,000), the
  few hottest threads forced above ``--hot-min``;
* Chinese text of 20-300 characters, about 30% replies (to a top-level comment
  of the same thread, created before them), about 97% approved (mode 1), 2%
  pending (mode 2) and 1% deleted (mode 4, emptied, only thread starters with
  replies: Isso keeps no other deleted comment);
* creation times over the year before ``--now``, increasing within a thread.

It prints one JSON line: the counts per thread of the hottest and the median
thread (the benchmark asks for those), and totals.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

URI_BASE = 100000
YEAR = 365 * 24 * 3600
# Text to cut comments from: common words of news comments, shuffled per comment.
WORDS = (
    "这篇 报道 写得 很 详细 感谢 记者 辛勤 工作 希望 有关 部门 尽快 落实 相关 政策 让 老百姓 "
    "早日 受益 支持 期待 后续 深入 政务 服务 越来越 方便 点赞 请问 具体 办理 流程 哪里 可以 "
    "查到 家门口 的 路 终于 要 修 了 盼望 通车 数据 有 说服力 建议 多做 图表 解读 关注 听到 "
    "更多 基层 群众 声音 教育 医疗 住房 交通 环境 保护 城市 建设 乡村 振兴 就业 创业 社保 "
    "养老 文化 旅游 体育 科技 创新 经济 发展 质量 安全 食品 价格 稳定 市场 消费 企业 改革 "
    "开放 我们 小区 附近 这个 问题 已经 反映 多次 还是 没有 解决 真心 希望 领导 重视 一下 "
    "今天 上午 下午 晚上 明天 去年 今年 每天 孩子 学校 老师 家长 医生 病人 司机 乘客 市民"
).split()
PUNCTUATION = "，。！？、；"
NICKNAMES = ["网友", "老张", "小李", "市民王先生", "热心读者", "路过", "张三", "阿强", None]


def thread_sizes(articles: int, comments: int, hot_min: int, rng: random.Random) -> list[int]:
    """Comments per thread: log-normal (mean comments/articles, median ~0.4 of it), summing
    exactly to ``comments``; the ``hot`` largest are at least ``hot_min``."""
    mean = comments / articles
    # mean = median * exp(sigma^2 / 2); median = 0.4 * mean -> sigma = sqrt(2 ln 2.5)
    sigma = math.sqrt(2 * math.log(2.5))
    mu = math.log(0.4 * mean)
    sizes = [max(1, round(rng.lognormvariate(mu, sigma))) for _ in range(articles)]
    order = sorted(range(articles), key=lambda i: sizes[i], reverse=True)
    hot = max(1, articles // 2000)
    for rank, i in enumerate(order[:hot]):
        sizes[i] = max(sizes[i], hot_min + (hot - rank) * hot_min // 10)
    # Scale the rest so that the total is exact.
    fixed = sum(sizes[i] for i in order[:hot])
    rest = order[hot:]
    factor = (comments - fixed) / max(1, sum(sizes[i] for i in rest))
    for i in rest:
        sizes[i] = max(1, round(sizes[i] * factor))
    diff = comments - sum(sizes)
    step = 1 if diff > 0 else -1
    pool = [i for i in rest if sizes[i] > 1] if diff < 0 else rest
    while diff:
        i = rng.choice(pool)
        if sizes[i] + step >= 1:
            sizes[i] += step
            diff -= step
    return sizes


def comment_text(rng: random.Random) -> str:
    """Chinese text of 20 to 300 characters."""
    length = min(300, max(20, int(rng.expovariate(1 / 70)) + 20))
    parts: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(WORDS)
        parts.append(word)
        size += len(word)
        if rng.random() < 0.15:
            parts.append(rng.choice(PUNCTUATION))
            size += 1
    return "".join(parts)[:length]


# Deleted comments are kept by Isso only while they have replies (it removes the
# others at once, and its purge thread removes any it finds): so only thread
# starters with replies are deleted here, 1 in 15 of them, about 1% of all.
DELETED_SHARE_OF_ANSWERED = 1 / 15


def thread_rows(
    tid: int, first_id: int, size: int, now: float, rng: random.Random, bloomfilter: type
) -> list[tuple[object, ...]]:
    """One thread's comments as rows of Isso's comments table."""
    created = now - rng.random() * YEAR
    span = (now - created) / (size + 1)
    roots: list[int] = []
    answered: set[int] = set()
    rows: list[list[object]] = []
    for comment_id in range(first_id, first_id + size):
        created = min(created + rng.random() * 2 * span, now - 1)
        parent = rng.choice(roots) if roots and rng.random() < 0.3 else None
        if parent is not None:
            answered.add(parent)
        mode = 2 if rng.random() < 0.02 else 1  # 2% pending
        address = f"198.51.{rng.randrange(256)}.0"  # Isso keeps addresses anonymised
        voters = memoryview(bloomfilter(iterable=[address]).array)
        likes = rng.randrange(5) if rng.random() < 0.2 else 0
        rows.append(
            [
                tid,
                comment_id,
                parent,
                created,
                None,
                mode,
                address,
                comment_text(rng),
                rng.choice(NICKNAMES),
                None,
                None,
                likes,
                0,
                voters,
            ]
        )
        if parent is None and mode == 1:
            roots.append(comment_id)
    for row in rows:
        if row[1] in answered and rng.random() < DELETED_SHARE_OF_ANSWERED:
            row[5], row[7], row[8] = 4, "", None  # as Isso deletes: kept, emptied
    return [tuple(row) for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--comments", type=int, default=200_000)
    parser.add_argument("--hot-min", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--now", type=float, default=1_790_000_000.0)
    args = parser.parse_args(argv)

    from isso import config
    from isso.db import SQLite3
    from isso.utils import Bloomfilter

    if args.db.exists():
        args.db.unlink()
    conf = config.load(config.default_file())
    SQLite3(str(args.db), conf)  # Isso's own tables, triggers and user_version

    rng = random.Random(args.seed)
    sizes = thread_sizes(args.articles, args.comments, args.hot_min, rng)
    started = time.monotonic()
    con = sqlite3.connect(args.db)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.executemany(
        "INSERT INTO threads (id, uri, title) VALUES (?, ?, ?)",
        (
            (
                n + 1,
                f"/news/{URI_BASE + n}.html",
                f"新闻标题 {URI_BASE + n}：{WORDS[n % len(WORDS)]}",
            )
            for n in range(args.articles)
        ),
    )
    next_id = 1
    batch: list[tuple[object, ...]] = []
    for n, size in enumerate(sizes):
        batch.extend(thread_rows(n + 1, next_id, size, args.now, rng, Bloomfilter))
        next_id += size
        if len(batch) >= 20_000:
            insert(con, batch)
            batch = []
    insert(con, batch)
    con.commit()
    con.close()
    ordered = sorted(range(args.articles), key=lambda i: sizes[i])
    median_index = ordered[len(ordered) // 2]
    print(
        json.dumps(
            {
                "articles": args.articles,
                "comments": next_id - 1,
                "median_size": statistics.median(sizes),
                "hottest_key": str(URI_BASE + ordered[-1]),
                "hottest_size": sizes[ordered[-1]],
                "median_key": str(URI_BASE + median_index),
                "over_1000": sum(1 for s in sizes if s > 1000),
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return 0


def insert(con: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    con.executemany(
        "INSERT INTO comments (tid, id, parent, created, modified, mode, remote_addr, text,"
        " author, email, website, likes, dislikes, voters) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


if __name__ == "__main__":
    sys.exit(main())
