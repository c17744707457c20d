"""The database: migrations, SQLite settings, UTC times, constraints and the health check."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import Column, MetaData, String, inspect, text
from sqlalchemy.exc import IntegrityError, StatementError

from service import PROJECT_ROOT
from service.extensions import db
from service.models import Article, Comment, Status

MIGRATIONS = PROJECT_ROOT / "migrations"
SQLITE_ONLY = pytest.mark.skipif(
    bool(os.environ.get("COMMENTS_TEST_DATABASE_URL")),
    reason="SQLite settings",
)


def schema_differences() -> list[object]:
    """What autogenerate would put in a new migration: nothing if models and migrations agree."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def insert_comment(article_id: int, status: str) -> None:
    db.session.execute(
        text(
            "INSERT INTO comment (article_id, author, body, status, created_at) "
            "VALUES (:article_id, '网友', '直接写入的评论 💾', :status, :created_at)"
        ),
        {"article_id": article_id, "status": status, "created_at": "2026-01-01 08:00:00.000000"},
    )
    db.session.commit()


def an_article_id(make_comment, app) -> int:
    comment_id = make_comment(article="67584")
    with app.app_context():
        return db.session.get(Comment, comment_id).article_id


# --- migrations -----------------------------------------------------------------------------------


def test_migrations_build_every_table(app, ctx):
    tables = set(inspect(db.engine).get_table_names())

    assert {table.name for table in db.metadata.sorted_tables} <= tables
    assert {"article", "comment", "spent_captcha", "alembic_version"} <= tables


def test_database_is_at_the_migrations_head(app, ctx):
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()

    version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()

    assert version == head


def test_models_and_migrations_agree(app, ctx):
    differences = schema_differences()

    assert differences == [], f"models and migrations differ; add a migration: {differences}"


def test_the_comparison_notices_a_column_the_migrations_lack(app, ctx):
    metadata = MetaData()
    for table in db.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["article"].append_column(Column("summary", String(500)))

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)

    assert [d[0] for d in differences] == ["add_column"]


def test_migrations_go_down_and_up_again(app, ctx):
    downgrade(directory=str(MIGRATIONS), revision="base")
    assert not {"article", "comment"} & set(inspect(db.engine).get_table_names())

    upgrade(directory=str(MIGRATIONS))

    assert {"article", "comment", "spent_captcha"} <= set(inspect(db.engine).get_table_names())
    assert schema_differences() == []


def test_upgrading_a_database_with_comments_keeps_them_and_joins_threads(app, ctx):
    """Upgrades run on live data: rebuilt SQLite tables keep rows other tables point at."""
    downgrade(directory=str(MIGRATIONS), revision="d2d3efa508c3")
    now = datetime.now(UTC)
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO article (id, key, closed, approved_count, created_at)"
                " VALUES (1, '67584', false, 3, :now)"
            ),
            {"now": now},
        )
        for comment_id, parent in ((1, None), (2, 1), (3, 2)):
            connection.execute(
                text(
                    "INSERT INTO comment (id, article_id, parent_id, author, body, status,"
                    " created_at, open_reports) VALUES (:id, 1, :parent, '网友', '评论 👍',"
                    " 'approved', :now, 0)"
                ),
                {"id": comment_id, "parent": parent, "now": now},
            )
        connection.execute(
            text(
                "INSERT INTO audit_log (created_at, actor, action, comment_id)"
                " VALUES (:now, 'editor', 'approve', 3)"
            ),
            {"now": now},
        )

    upgrade(directory=str(MIGRATIONS))

    roots = dict(db.session.execute(text("SELECT id, root_id FROM comment")).all())
    assert roots == {1: None, 2: 1, 3: 1}  # a reply to a reply joins the first thread
    assert db.session.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 1
    assert schema_differences() == []


# --- SQLite connection settings -------------------------------------------------------------------


@SQLITE_ONLY
def test_sqlite_uses_write_ahead_logging(app, ctx):
    assert db.session.execute(text("PRAGMA journal_mode")).scalar_one().lower() == "wal"


@SQLITE_ONLY
def test_sqlite_waits_30_seconds_for_locks(app, ctx):
    assert db.session.execute(text("PRAGMA busy_timeout")).scalar_one() == 30000


@SQLITE_ONLY
def test_sqlite_enforces_foreign_keys(app, ctx):
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    with pytest.raises(IntegrityError):
        insert_comment(article_id=987_654, status="pending")


# --- times ----------------------------------------------------------------------------------------


def test_comment_times_come_back_as_utc(app, make_comment):
    before = datetime.now(UTC)
    comment_id = make_comment(body="时间测试 ⏰")

    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        created = comment.created_at
        article_created = comment.article.created_at

    for moment in (created, article_created):
        assert moment.tzinfo is not None
        assert moment.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=5) <= moment <= datetime.now(UTC)


def test_times_in_other_zones_are_stored_as_the_same_instant(app, make_comment):
    beijing = datetime(2026, 1, 1, 20, 30, tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    comment_id = make_comment(body="北京时间 🕗")
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        comment.created_at = beijing
        db.session.commit()

    with app.app_context():
        stored = db.session.get(Comment, comment_id).created_at

    assert stored == beijing
    assert stored.utcoffset() == timedelta(0)
    assert stored.hour == 20


def test_naive_times_are_refused(app, make_comment):
    comment_id = make_comment()

    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        comment.created_at = datetime(2026, 1, 1, 12, 0)
        with pytest.raises(StatementError, match="naive"):
            db.session.commit()
        db.session.rollback()


def test_api_shows_times_with_the_portal_zone_offset(client, make_comment):
    make_comment(body="接口时间 🌐")

    created_at = client.get("/api/v1/articles/67584/comments").get_json()["comments"][0][
        "created_at"
    ]

    # An exact instant either way; shown as the portal's readers count time (UTC+8).
    assert datetime.fromisoformat(created_at).utcoffset() == timedelta(hours=8)


# --- constraints ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [s.value for s in Status])
def test_known_statuses_are_accepted_by_the_database(app, make_comment, status):
    article_id = an_article_id(make_comment, app)

    with app.app_context():
        insert_comment(article_id, status)
        count = db.session.execute(
            text("SELECT count(*) FROM comment WHERE status = :s"), {"s": status}
        ).scalar_one()

    assert count >= 1


@pytest.mark.parametrize("status", ["published", "APPROVED", "", "待审核"])
def test_unknown_status_is_refused_by_the_database(app, make_comment, status):
    article_id = an_article_id(make_comment, app)

    with app.app_context():
        with pytest.raises(IntegrityError):
            insert_comment(article_id, status)
        db.session.rollback()


def test_status_cannot_be_updated_to_an_unknown_value(app, make_comment):
    comment_id = make_comment()

    with app.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(
                text("UPDATE comment SET status = 'hidden' WHERE id = :id"), {"id": comment_id}
            )
        db.session.rollback()
        assert db.session.get(Comment, comment_id).status == Status.APPROVED


def test_article_keys_are_unique(app, make_comment):
    make_comment(article="67584")

    with app.app_context():
        db.session.add(Article(key="67584", title="重复的文章"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


# --- health check ---------------------------------------------------------------------------------


def test_health_check_reports_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.is_json
    data = response.get_json()
    assert data["status"] == "ok"
    assert data["database"] == "ok"
    assert "no-store" in response.headers["Cache-Control"]


def test_health_check_reports_an_unreachable_database(make_app):
    client = make_app(DATABASE_URL="sqlite:////nonexistent-dir/x.db").test_client()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.is_json
    assert response.get_json()["database"] == "unavailable"
    assert response.get_json()["status"] != "ok"


def test_api_answers_503_json_when_the_database_is_unreachable(make_app):
    client = make_app(DATABASE_URL="sqlite:////nonexistent-dir/x.db").test_client()

    response = client.get("/api/v1/counts", query_string={"article": "67584"})

    assert response.status_code == 503
    assert response.is_json
    assert response.get_json()["error"]["code"] == "service_unavailable"
    assert response.headers.get("Retry-After")
