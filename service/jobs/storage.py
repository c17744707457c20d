"""Where the job queue keeps its jobs: huey's SQLite, Redis or in-memory storage."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey
from huey.storage import SqliteStorage
from redis import ConnectionPool

QUEUE_NAME = "comments"
SQLITE_PREFIX = "sqlite:///"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class _SqliteStorage(SqliteStorage):
    """huey's SQLite storage with ``synchronous=NORMAL`` (as the service's own database).

    In WAL mode that survives a crash of any process; a power cut may lose the
    last few jobs, never corrupt the file, and the sweeper re-queues every
    notification a lost job was to send. It spares each enqueue an fsync.
    """

    def _create_connection(self) -> sqlite3.Connection:
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


class _SqliteHuey(Huey):
    storage_class = _SqliteStorage


def jobs_url(config: dict[str, Any], instance_path: str) -> str:
    """JOBS_URL, else Redis at REDIS_URL, else ``jobs.db`` in the instance folder."""
    url = config.get("JOBS_URL") or config.get("REDIS_URL")
    return str(url) if url else f"{SQLITE_PREFIX}{Path(instance_path) / 'jobs.db'}"


def describe(url: str) -> str:
    """The storage for people: no password, no path beyond the file name."""
    if url.startswith(SQLITE_PREFIX):
        return f"SQLite {Path(url[len(SQLITE_PREFIX) :]).name}"
    if url.startswith(REDIS_SCHEMES):
        host = url.split("@")[-1].split("://")[-1]
        return f"Redis {host}"
    return url


def make_huey(url: str, consumer: bool = False) -> Huey:
    """A huey instance on the storage ``url`` names (ValueError for anything else).

    Results are not kept: every job records what it did in the database. Web
    processes wait at most half a second for Redis, so a Redis that hangs
    cannot hold a reader's request; a consumer blocks on Redis for up to a
    second at a time while it waits for jobs, so it allows longer.
    """
    if url == "memory://":
        return MemoryHuey(QUEUE_NAME, results=False, utc=True)
    if url.startswith(SQLITE_PREFIX):
        path = url[len(SQLITE_PREFIX) :]
        if not path:
            raise ValueError("COMMENTS_JOBS_URL: sqlite:/// needs a file path")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return _SqliteHuey(QUEUE_NAME, filename=path, results=False, utc=True, timeout=30)
    if url.startswith(REDIS_SCHEMES):
        pool = ConnectionPool.from_url(
            url, socket_connect_timeout=0.5, socket_timeout=5.0 if consumer else 0.5
        )
        return RedisHuey(QUEUE_NAME, connection_pool=pool, results=False, utc=True, read_timeout=1)
    raise ValueError("COMMENTS_JOBS_URL must be sqlite:///PATH, redis://HOST:PORT/DB or memory://")
