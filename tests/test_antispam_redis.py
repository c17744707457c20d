"""The window shared through Redis: instances see one wave; Redis down changes nothing visible.

Uses Redis database 11 on 127.0.0.1:6379 (flushed before each test), and skips
when no Redis answers there.
"""

from __future__ import annotations

import logging
import socket

import numpy as np
import pytest
import redis
from helpers import post_as
from sqlalchemy import func, select

from service import antispam
from service.antispam.window import FallbackWindow, MemoryWindow, RedisWindow, Seen
from service.extensions import db
from service.models import Comment

REDIS_URL = "redis://127.0.0.1:6379/11"


def redis_problem() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"no Redis at {REDIS_URL}: {error}"
    finally:
        client.close()
    return None


@pytest.fixture
def shared_redis() -> str:
    problem = redis_problem()
    if problem:
        pytest.skip(problem)
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL


def closed_port_url() -> str:
    """A Redis URL where nothing listens (a port bound for a moment, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def advert(n: int) -> str:
    return f"删帖、负面处理，专业团队二十四小时在线，加扣扣 {300000 + n} 咨询，价格公道。"


def statuses(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(Comment.status, func.count()).group_by(Comment.status))
        return {str(status): n for status, n in rows}


def test_two_instances_sharing_redis_see_one_wave(wave_app, shared_redis):
    first = wave_app(REDIS_URL=shared_redis)
    second = wave_app(REDIS_URL=shared_redis)
    clients = [first.test_client(), second.test_client()]

    # Alternating: each instance alone sees at most three posts (no wave by itself).
    for n in range(6):
        post_as(clients[n % 2], f"198.51.100.{n + 1}", advert(n))

    assert statuses(first) == {"spam": 6}
    with first.app_context():
        assert db.session.execute(select(func.count(antispam.SpamWave.id))).scalar_one() == 1
    with second.test_request_context():
        assert antispam.is_on()  # the mode is shared too


def test_with_redis_down_posting_goes_on_and_it_is_logged_once(wave_app, caplog):
    app = wave_app(REDIS_URL=closed_port_url())
    client = app.test_client()

    with caplog.at_level(logging.WARNING, logger="service.antispam.window"):
        answers = [post_as(client, f"198.51.100.{n + 1}", advert(n)) for n in range(8)]

    assert [a.status_code for a in answers] == [202] * 8
    # Detection goes on in this process's memory.
    assert statuses(app) == {"spam": 8}
    down = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(down) == 1
    assert "198.51.100" not in caplog.text  # no address in the log


def test_the_fallback_goes_back_to_redis_when_it_answers_again(shared_redis, monkeypatch):
    from service.antispam import window

    fallback = FallbackWindow(RedisWindow(closed_port_url()), MemoryWindow())
    fallback.count(["site"], 1000.0)
    assert not fallback.shared
    fallback.primary = RedisWindow(shared_redis)
    monkeypatch.setattr(window, "REDIS_RETRY_SECONDS", 0.0)

    fallback.count(["site"], 1000.0)

    assert fallback.shared


def seen(post: int, at: float, wave: int | None = None) -> Seen:
    return Seen(post, at, f"s{post}", "a1", True, np.arange(64, dtype=np.uint32), ("c:1",), wave)


@pytest.mark.parametrize("kind", ["redis", "memory"])
def test_both_windows_keep_and_forget_the_same_way(shared_redis, kind):
    window = RedisWindow(shared_redis) if kind == "redis" else MemoryWindow(clock=lambda: 5000.0)
    window.add(seen(1, 1000.0), ["b0:x", "c:1"], ttl=600)
    window.add(seen(2, 1500.0), ["b0:x"], ttl=600)
    window.set_wave([1, 99], 7)

    found = {s.post: s for s in window.candidates(["b0:x"], since=900.0)}
    assert sorted(found) == [1, 2]
    assert found[1].wave == 7 and found[2].wave is None
    assert found[1].signature.tolist() == list(range(64))
    assert found[1].contacts == ("c:1",)
    assert [s.post for s in window.candidates(["b0:x"], since=1200.0)] == [2]
    assert window.candidates(["nothing"], since=0.0) == []

    assert window.count(["site", "article:a"], 6000.0) == [1.0, 1.0]
    assert window.count(["site"], 6001.0) == [2.0]

    assert window.add_state("attack", {"on": 1}, ttl=60)
    assert not window.add_state("attack", {"on": 2}, ttl=60)
    assert window.get_state("attack") == {"on": 1}
    assert window.note(["site"], 6002.0, "attack") == ([3.0], {"on": 1})
    assert window.take_state("attack") == {"on": 1}
    assert window.take_state("attack") is None
    assert window.note(["site"], 6003.0, "attack") == ([4.0], None)
