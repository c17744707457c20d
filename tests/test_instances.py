"""Two real gunicorn instances on one PostgreSQL and one Redis behave as one service.

A captcha issued by one instance is answered on the other, a spent captcha is
spent everywhere (also when ten requests race with it), a rate limit counts
requests to both, and a moderator's approval on one instance is what readers
of the other see at once. Finally the load test (scripts/loadtest.py) runs at a
reduced size on SQLite and must lose nothing.

The two-instance tests need PostgreSQL and Redis on 127.0.0.1 (skipped without
them, failed when CI=true); they use their own database ``comments_scale`` and
Redis database 5, never the suite's. The load test needs neither (SQLite).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from instances import (
    PROJECT_ROOT,
    Instance,
    Response,
    connection,
    flush_redis,
    new_secret_key,
    postgres_problem,
    recreate_postgres_database,
    redis_problem,
    request,
    running,
    send_on,
    service_env,
    stop_all,
)
from instances import add_moderator_token as create_moderator_token
from instances import migrate as migrate_database

pytestmark = [pytest.mark.slow]

DATABASE = "comments_scale"
REDIS_URL = "redis://127.0.0.1:6379/5"
RACERS = 10
# Load test size for the suite (LOADTEST_SUBMISSIONS=5000 runs the full size).
LOAD_SUBMISSIONS = int(os.environ.get("LOADTEST_SUBMISSIONS", "2000"))


@dataclass(frozen=True)
class Backing:
    database_url: str
    secret_key: str
    env: dict[str, str]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    token: str  # a moderation API token (Bearer)

    @property
    def urls(self) -> tuple[str, str]:
        return self.a, self.b


@pytest.fixture(scope="module")
def backing() -> Backing:
    """A fresh, migrated ``comments_scale`` database and an empty Redis database 5."""
    problems = [p for p in (postgres_problem(), redis_problem(REDIS_URL)) if p]
    if problems:
        reason = "two-instance tests need PostgreSQL and Redis: " + "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    database_url = recreate_postgres_database(DATABASE)
    flush_redis(REDIS_URL)
    secret_key = new_secret_key()
    env = service_env(
        SECRET_KEY=secret_key,
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        CAPTCHA_TEST_MODE=False,
        LOG_JSON=True,
    )
    migrate_database(env)
    return Backing(database_url, secret_key, env)


@pytest.fixture(scope="module")
def pair(backing: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Instances A and B (rate limits on, generous, kept in Redis) and an admin's token."""
    env = {
        **backing.env,
        "COMMENTS_RATELIMIT_ENABLED": "true",
        "COMMENTS_RATELIMIT_CAPTCHA": "1000/minute",
        "COMMENTS_RATELIMIT_POST": "1000/minute",
    }
    logs = tmp_path_factory.mktemp("pair-logs")
    a, b = Instance("A", env, logs), Instance("B", env, logs)
    try:
        a.start()
        b.start()
        token = create_moderator_token(backing.env, "scalemod")  # while they boot
        a.wait_healthy()
        b.wait_healthy()
        yield Pair(a.url, b.url, token)
    finally:
        stop_all([a, b])
    text = a.log_text() + b.log_text()
    assert "Traceback" not in text, text[-3000:]


@pytest.fixture(scope="module")
def answer(backing: Backing) -> Iterator[Callable[[str], str]]:
    """The right answer to a token, computed the way the server does (same secret key)."""
    from service import captcha, create_app
    from service.extensions import db

    app = create_app(
        {
            "SECRET_KEY": backing.secret_key,
            "DATABASE_URL": backing.database_url,
            "LOG_JSON": False,
            "METRICS_ENABLED": False,
        }
    )

    def solve(token: str) -> str:
        with app.app_context():
            return captcha.answer_for(captcha.nonce_of(token))

    yield solve
    with app.app_context():
        db.engine.dispose()


def new_captcha(base_url: str) -> str:
    response = request(base_url, "GET", "/captcha")
    assert response.status == 200, response.body
    return response.json()["token"]


def comment_payload(token: str, answer: str, body: str | None = None) -> dict[str, Any]:
    return {
        "author": "测试读者",
        "body": body or f"两个实例共用一个验证码：{secrets.token_hex(6)}",
        "captcha_token": token,
        "captcha_answer": answer,
    }


def post_comment(base_url: str, article: str, token: str, answer: str) -> Response:
    return request(
        base_url, "POST", f"/api/v1/articles/{article}/comments", comment_payload(token, answer)
    )


def error_code(response: Response) -> str:
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    return error["code"]


def article_key(test: str) -> str:
    return f"scale-{test}-{secrets.token_hex(4)}"


def test_captcha_issued_by_a_is_answered_on_b(pair: Pair, answer: Callable[[str], str]) -> None:
    a, b = pair.urls
    for url in pair.urls:
        assert request(url, "GET", "/healthz").json()["captcha_test_mode"] is False

    token = new_captcha(a)
    posted = post_comment(b, article_key("t1"), token, answer(token))

    assert posted.status == 202, posted.body
    assert posted.json()["status"] == "pending"
    assert isinstance(posted.json()["id"], int)
    # Test mode really is off: the test-mode answer is a wrong answer here.
    token = new_captcha(a)
    refused = post_comment(b, article_key("t1"), token, "PASSED")
    assert refused.status == 422, refused.body
    assert error_code(refused) == "captcha_invalid"


def test_spent_captcha_is_spent_on_both_instances(pair: Pair, answer: Callable[[str], str]) -> None:
    a, b = pair.urls
    key = article_key("t2")
    token = new_captcha(b)
    right = answer(token)

    first = post_comment(a, key, token, right)
    again_on_a = post_comment(a, key, token, right)
    again_on_b = post_comment(b, key, token, right)
    wrong_on_b = post_comment(b, key, token, "WRONG")

    assert first.status == 202, first.body
    # A retry on either instance gets the first answer: the same comment, not a new one.
    for again in (again_on_a, again_on_b):
        assert again.status == 202, again.body
        assert again.json() == first.json()
    assert wrong_on_b.status == 422, wrong_on_b.body
    assert error_code(wrong_on_b) == "captcha_invalid"
    assert pending_ids(b, pair.token, key) == [first.json()["id"]]


def test_racing_requests_with_one_captcha_have_one_winner(
    pair: Pair, answer: Callable[[str], str]
) -> None:
    key = article_key("race")
    token = new_captcha(pair.a)
    right = answer(token)
    barrier = threading.Barrier(RACERS, timeout=30)
    results: list[Response | BaseException] = [RuntimeError("did not run")] * RACERS

    def race(index: int) -> None:
        conn = connection(pair.urls[index % 2], timeout=30)
        try:
            conn.connect()  # connected before the barrier: the requests leave together
            barrier.wait()
            payload = comment_payload(token, right, f"抢答同一个验证码 第{index}个")
            results[index] = send_on(conn, "POST", f"/api/v1/articles/{key}/comments", payload)
        except BaseException as error:  # noqa: BLE001 - reported by the assertions
            results[index] = error
        finally:
            conn.close()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not any(t.is_alive() for t in threads)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    responses = [r for r in results if isinstance(r, Response)]
    statuses = Counter(r.status for r in responses)
    # One winner stores the comment; the others are retries of it and get its answer.
    assert statuses == {202: RACERS}, [(r.status, r.body) for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    # Only the winner was stored (the moderators' queue of that article holds it alone).
    assert pending_ids(pair.b, pair.token, key) == list(ids)


def pending_ids(base_url: str, token: str, key: str) -> list[int]:
    """Ids of an article's pending comments, as the moderation API lists them."""
    response = request(
        base_url,
        "GET",
        f"/api/v1/mod/comments?status=pending&article={key}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200, response.body
    return [c["id"] for c in response.json()["comments"]]


def stored_ids_of_article(base_url: str, key: str) -> list[int]:
    response = request(base_url, "GET", f"/api/v1/articles/{key}/comments")
    assert response.status == 200, response.body
    return [c["id"] for c in response.json()["comments"]]


def test_rate_limit_counts_requests_to_both_instances(backing: Backing, tmp_path: Path) -> None:
    flush_redis(REDIS_URL)
    env = {
        **backing.env,
        "COMMENTS_RATELIMIT_ENABLED": "true",
        "COMMENTS_RATELIMIT_CAPTCHA": "6/minute",
    }
    c, d = Instance("C", env, tmp_path), Instance("D", env, tmp_path)
    with running(c, d):
        allowed = [request(url, "GET", "/captcha") for url in (c.url, d.url) * 3]
        seventh = request(c.url, "GET", "/captcha")
        eighth = request(d.url, "GET", "/captcha")

    assert [r.status for r in allowed] == [200] * 6, [r.body for r in allowed]
    # One window for both instances: what is left goes down across them.
    assert [r.headers.get("x-ratelimit-remaining") for r in allowed] == [
        "5",
        "4",
        "3",
        "2",
        "1",
        "0",
    ]
    for limited in (seventh, eighth):
        assert limited.status == 429, limited.body
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-type"].startswith("application/json")
        assert error_code(limited) == "rate_limited"
        assert set(limited.json()) == {"error"}


def test_approval_on_a_is_seen_on_b_at_once(pair: Pair, answer: Callable[[str], str]) -> None:
    a, b = pair.urls
    key = article_key("t4")
    token = new_captcha(b)
    posted = post_comment(a, key, token, answer(token))
    assert posted.status == 202, posted.body
    comment_id = posted.json()["id"]
    counts_path = f"/api/v1/counts?article={key}"
    assert request(b, "GET", counts_path).json() == {"counts": {key: 0}}
    assert stored_ids_of_article(b, key) == []

    approved = request(
        a,
        "POST",
        f"/api/v1/mod/comments/{comment_id}/approve",
        headers={"Authorization": f"Bearer {pair.token}"},
    )

    assert approved.status == 200, approved.body
    assert approved.json() == {"id": comment_id, "status": "approved", "deleted": False}
    assert request(b, "GET", counts_path).json() == {"counts": {key: 1}}
    assert stored_ids_of_article(b, key) == [comment_id]
    listed = request(b, "GET", f"/api/v1/articles/{key}/comments").json()
    assert listed["total"] == 1
    assert listed["comments"][0]["body"].startswith("两个实例共用一个验证码")


def load_loadtest() -> ModuleType:
    path = PROJECT_ROOT / "scripts" / "loadtest.py"
    spec = importlib.util.spec_from_file_location("loadtest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["loadtest"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_load_without_loss() -> None:
    """The load test, reduced: SQLite, 2 instances × 4 workers, 16 readers, 2 moderators."""
    loadtest = load_loadtest()
    code = loadtest.main(
        [
            "--backend",
            "sqlite",
            "--workers",
            "4",
            "--clients",
            "16",
            "--submissions",
            str(LOAD_SUBMISSIONS),
            "--timeout",
            "300",
        ]
    )
    assert code == 0, "the load test's verification failed (its report is printed above)"
