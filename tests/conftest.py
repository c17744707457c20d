"""Shared fixtures: an app on a migrated database, clients, accounts, captchas, comments.

The database is SQLite by default. Set ``COMMENTS_TEST_DATABASE_URL`` to a
PostgreSQL URL (``postgresql+psycopg://postgres@127.0.0.1/test``) to run the
same suite there. The schema is built once per session by the migrations (not
``create_all``), then each test gets a fresh copy (SQLite) or empty tables
(PostgreSQL).

Moderator and admin accounts use the names and passwords in ``helpers.py``;
test files import those (and the sign-in helpers) from there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from helpers import ADMIN, ADMIN_PASSWORD, MOD_PASSWORD, MODERATOR, add_account, login
from sqlalchemy import text

from service import create_app
from service.comments import forget_cached_counts
from service.extensions import db
from service.models import Article, Comment, Status

TEST_SECRET = "test-secret-key-not-for-production"
POSTGRES_URL = os.environ.get("COMMENTS_TEST_DATABASE_URL", "")
SEED_ROWS: dict[str, list[dict[str, Any]]] = {}


def base_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
        "RATELIMIT_ENABLED": False,
        "ALLOWED_ORIGINS": ["https://www.portal.example"],
        # The test client's own address (Flask's test client speaks to http://localhost).
        "PUBLIC_URL": "http://localhost",
        "DEMO_ENABLED": True,
        # Jobs queued in this process's memory (nothing left in instance/jobs.db);
        # tests of the queue run a worker on it, or choose a storage of their own.
        "JOBS_URL": "memory://",
        # Still scrypt, at a cost that keeps the suite fast; each hash records its own
        # cost, so checking a password works the same as with the default.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database at the migrations' head: a SQLite template file, or PostgreSQL."""
    if POSTGRES_URL:
        app = create_app(base_config(POSTGRES_URL))
        with app.app_context():
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            upgrade()
            # Rows the migrations seed (default trust rules), restored after each test.
            with db.engine.connect() as connection:
                for table in db.metadata.sorted_tables:
                    rows = connection.execute(table.select()).mappings().all()
                    if rows:
                        SEED_ROWS[table.name] = [dict(r) for r in rows]
            db.engine.dispose()
        return POSTGRES_URL
    template = tmp_path_factory.mktemp("db") / "template.db"
    app = create_app(base_config(f"sqlite:///{template}"))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    return str(template)


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    """A clean database for one test."""
    if POSTGRES_URL:
        return POSTGRES_URL
    copy = tmp_path / "comments.db"
    shutil.copy(migrated_database, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test's database with extra settings."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        app = create_app(base_config(database_url, **overrides))
        apps.append(app)
        return app

    yield factory
    # Cached per database URL, article id and version: PostgreSQL tests share the URL
    # and restart ids, so a count cached by one test must not serve the next.
    forget_cached_counts()
    for app in apps:
        with app.app_context():
            if POSTGRES_URL and app.config["DATABASE_URL"] == POSTGRES_URL:
                db.session.remove()
                tables = ", ".join(t.name for t in reversed(db.metadata.sorted_tables))
                with db.engine.begin() as connection:
                    connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                    for name, rows in SEED_ROWS.items():
                        table = db.metadata.tables[name]
                        connection.execute(table.insert(), rows)
                        connection.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                                f" (SELECT max(id) FROM {name}))"
                            )
                        )
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An application context, for calling services directly."""
    with app.test_request_context():
        yield


def solve(client: FlaskClient) -> tuple[str, str]:
    """A fresh captcha token and its right answer, computed the way the server does."""
    from service import captcha

    token = client.get("/captcha").get_json()["token"]
    with client.application.app_context():
        return token, captcha.answer_for(captcha.nonce_of(token))


@pytest.fixture
def solved(client: FlaskClient) -> Callable[[], tuple[str, str]]:
    return lambda: solve(client)


@pytest.fixture
def make_comment(app: Flask) -> Callable[..., int]:
    """Store a comment directly (no captcha), approved by default; returns its id."""
    from service import moderation
    from service.articles import ensure_article

    def factory(
        article: str = "67584",
        body: str = "支持！👍",
        author: str = "网友",
        status: Status = Status.APPROVED,
        parent_id: int | None = None,
        remote_addr: str = "203.0.113.7",
    ) -> int:
        with app.test_request_context():
            art: Article = ensure_article(article)
            parent = db.session.get(Comment, parent_id) if parent_id else None
            comment = Comment(
                root_id=(parent.root_id or parent.id) if parent else None,
                article=art,
                author=author,
                body=body,
                status=status,
                parent_id=parent_id,
                remote_addr=remote_addr,
            )
            db.session.add(comment)
            db.session.flush()
            moderation.admit(comment)
            db.session.commit()
            return comment.id

    return factory


@pytest.fixture
def pending(make_comment: Callable[..., int]) -> Callable[..., int]:
    """Make a pending comment (same arguments as ``make_comment``)."""
    return lambda **fields: make_comment(**{"status": Status.PENDING, **fields})


# --- moderators -------------------------------------------------------------------------


@pytest.fixture
def moderator(app: Flask) -> str:
    """An ordinary moderator account (MODERATOR, MOD_PASSWORD); returns its name."""
    return add_account(app, MODERATOR, MOD_PASSWORD)


@pytest.fixture
def admin(app: Flask) -> str:
    """An admin account (ADMIN, ADMIN_PASSWORD); returns its name."""
    return add_account(app, ADMIN, ADMIN_PASSWORD, admin=True)


@pytest.fixture
def mod_client(app: Flask, moderator: str) -> FlaskClient:
    """A client of its own (not ``client``), signed in to the dashboard as the moderator."""
    signed_in = app.test_client()
    assert login(signed_in, moderator, MOD_PASSWORD).status_code == 303
    return signed_in


@pytest.fixture
def admin_client(app: Flask, admin: str) -> FlaskClient:
    """A client of its own (not ``client``), signed in to the dashboard as the admin."""
    signed_in = app.test_client()
    assert login(signed_in, admin, ADMIN_PASSWORD).status_code == 303
    return signed_in


# --- spam waves ----------------------------------------------------------------------------


class FakeClock:
    """A clock for the spam-wave detector that tests advance instead of sleeping."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wave_app(make_app: Callable[..., Flask], clock: FakeClock) -> Callable[..., Flask]:
    """Build apps that take posts from many addresses with a perfect captcha solver.

    ``CAPTCHA_TEST_MODE`` stands in for the solver; ``TRUSTED_PROXIES=1`` lets a
    test pick each reader's address with X-Forwarded-For. The detector uses ``clock``.
    """

    def factory(**overrides: Any) -> Flask:
        app = make_app(**{"CAPTCHA_TEST_MODE": True, "TRUSTED_PROXIES": 1, **overrides})
        app.extensions["antispam"].clock = clock
        return app

    return factory
