"""Schemathesis against the documented API: every operation of /api/v1/openapi.json.

Generated requests (valid and invalid ones, from the OpenAPI document) go over HTTP to a
live server of the app (werkzeug in a thread on 127.0.0.1, at a free port). Each answer
must not be a server error, must have a documented status code and must match the schema
documented for it. The moderation API gets a real Bearer token (service.auth); comment
submissions get a fresh captcha token and every other one the test-mode answer
(``CAPTCHA_TEST_MODE``), so that comments are stored as well as refused. Rate limits are
off (conftest).

The document is taken from ``service.openapi`` at import, so that pytest gets one test
per operation (schemathesis' lazy ``from_fixture`` loader fails under pytest 9: it sets
``Function._nodeid``); another test checks that the app serves exactly that document.

Bounded and repeatable: at most 25 generated examples per operation and phase, no
deadline, derandomized with a fixed seed, no example database.

Needs ``schemathesis`` (``pip install "schemathesis>=4.32,<5"``, tried with 4.32.5);
the module is skipped where it is not installed.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from conftest import POSTGRES_URL, base_config  # noqa: E402
from flask import Flask  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from service import auth, captcha, create_app, moderation  # noqa: E402
from service.articles import ensure_article  # noqa: E402
from service.extensions import db  # noqa: E402
from service.models import Comment, Status  # noqa: E402
from service.openapi import openapi_document  # noqa: E402

SEED = 20261128
MAX_EXAMPLES = 25
ARTICLE = "67584"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
CONFIG = {
    "seed": SEED,
    "cache": {"enabled": False},
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
    },
    "phases": {"stateful": {"enabled": False}},
}


def store_comment(app: Flask, body: str, status: Status) -> int:
    with app.test_request_context():
        comment = Comment(
            article=ensure_article(ARTICLE),
            author="网友",
            body=body,
            status=status,
            remote_addr="203.0.113.7",
        )
        db.session.add(comment)
        db.session.flush()
        moderation.admit(comment)
        db.session.commit()
        return comment.id


@pytest.fixture(scope="module")
def api_app(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on its own copy of the migrated database: test-mode captcha, a moderator
    token, a few comments to like, report and moderate."""
    if POSTGRES_URL:
        pytest.skip("runs on the SQLite template only (it keeps what it stores)")
    copy = tmp_path_factory.mktemp("schemathesis") / "comments.db"
    shutil.copy(migrated_database, copy)
    app = create_app(
        base_config(f"sqlite:///{copy}", CAPTCHA_TEST_MODE=True, PROPAGATE_EXCEPTIONS=False)
    )
    with app.app_context():
        moderator = auth.add_moderator("schemathesis", "schemathesis-password-1")
        app.config["TEST_API_TOKEN"] = auth.create_token(moderator, "schemathesis")
    for n in range(3):
        store_comment(app, f"已通过的评论 {n}", Status.APPROVED)
        store_comment(app, f"待审核的评论 {n}", Status.PENDING)
    yield app
    with app.app_context():
        db.engine.dispose()


class QuietRequestHandler(WSGIRequestHandler):
    timeout = 5.0

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1 at a free port in a thread (as tests/browser.py does)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    server.daemon_threads = False
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5.0)
        server.server_close()


@pytest.fixture(scope="module")
def live_url(api_app: Flask) -> Iterator[str]:
    with serve(api_app) as url:
        yield url


schema = schemathesis.openapi.from_dict(
    openapi_document(), config=schemathesis.Config.from_dict(CONFIG)
)
submissions = {"count": 0}


def with_fresh_captcha(app: Flask, case: Any) -> None:
    """A comment submission gets a valid, unspent captcha token; every other one also the
    test-mode answer (the rest keep the generated answer, which is wrong)."""
    if case.operation.label != "POST /api/v1/articles/{article}/comments":
        return
    if not isinstance(case.body, dict):
        return
    with app.app_context():
        case.body["captcha_token"] = captcha.new_challenge().token
    submissions["count"] += 1
    if submissions["count"] % 2:
        case.body["captcha_answer"] = captcha.TEST_MODE_ANSWER


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_openapi_document(case: Any, api_app: Flask, live_url: str) -> None:
    with_fresh_captcha(api_app, case)
    token = api_app.config["TEST_API_TOKEN"]
    case.call_and_validate(
        base_url=live_url,
        headers={"Authorization": f"Bearer {token}"},
        checks=CHECKS,
        timeout=10,
    )


def test_the_app_serves_the_document_tested(api_app: Flask) -> None:
    response = api_app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == json.loads(json.dumps(openapi_document()))
