"""Exports of comments and of the audit log: the CLI and the admin's downloads."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from helpers import form_post
from sqlalchemy import select, update

from service import exports, moderation
from service.extensions import db
from service.models import AuditEntry, Comment


@pytest.fixture
def run(app: Flask, runner: FlaskCliRunner) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        with app.app_context():
            return runner.invoke(args=list(args))

    return invoke


def set_created(app: Flask, comment_id: int, moment: datetime) -> None:
    with app.app_context():
        db.session.execute(
            update(Comment).where(Comment.id == comment_id).values(created_at=moment)
        )
        db.session.commit()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def csv_rows(text: str) -> list[dict]:
    assert text.startswith("\ufeff"), "CSV starts with a BOM so that Excel reads UTF-8"
    return list(csv.DictReader(io.StringIO(text[1:])))


def audit_actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(AuditEntry.action)).scalars())


@pytest.fixture
def three(app, make_comment, pending) -> dict[str, int]:
    """Three comments on two articles, at known times (UTC)."""
    ids = {
        "old": make_comment(article="67584", body="十一月的评论", author="老读者"),
        "reply": 0,
        "other": pending(article="67590", body='=HYPERLINK("http://evil.example")'),
    }
    ids["reply"] = make_comment(article="67584", body="回复 👍", parent_id=ids["old"])
    set_created(app, ids["old"], datetime(2026, 11, 27, 15, 30, tzinfo=UTC))  # 23:30 +08:00
    set_created(app, ids["reply"], datetime(2026, 11, 27, 16, 30, tzinfo=UTC))  # 00:30 next day
    set_created(app, ids["other"], datetime(2026, 11, 28, 4, 0, tzinfo=UTC))
    return ids


def test_cli_exports_every_comment_as_json_lines_in_the_portals_zone(run, three):
    result = run("export", "--format", "jsonl")

    assert result.exit_code == 0, result.output
    rows = jsonl(result.output)
    assert [r["id"] for r in rows] == [three["old"], three["other"], three["reply"]]
    first = rows[0]
    assert first["created_at"] == "2026-11-27T23:30:00+08:00"
    assert first["article"] == "67584" and first["author"] == "老读者"
    assert first["body"] == "十一月的评论" and first["status"] == "approved"
    assert first["remote_addr"] == "203.0.113.7"
    assert rows[2]["parent_id"] == three["old"] and rows[2]["root_id"] == three["old"]
    assert set(first) == set(exports.COMMENT_FIELDS)


def test_since_is_a_day_in_the_portals_zone_and_article_narrows_it(run, three):
    result = run("export", "--since", "2026-11-28", "--article", "67584")

    assert [r["id"] for r in jsonl(result.output)] == [three["reply"]]


def test_csv_export_neutralises_formulas_and_keeps_chinese(run, three, tmp_path):
    out = tmp_path / "comments.csv"

    result = run("export", "--format", "csv", "--output", str(out))

    assert result.exit_code == 0, result.output
    rows = csv_rows(out.read_text(encoding="utf-8"))
    assert [int(r["id"]) for r in rows] == [three["old"], three["other"], three["reply"]]
    assert rows[0]["body"] == "十一月的评论"
    assert rows[1]["body"] == '\'=HYPERLINK("http://evil.example")'  # shown, never run
    assert rows[1]["status"] == "pending"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "2026-11-28"),
        (["--article", "../etc"], "文章标识无效"),  # the CLI speaks the default language
    ],
)
def test_cli_export_refuses_bad_filters_cleanly(run, args, message):
    result = run("export", *args)

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_output_file_that_cannot_be_written_is_a_clean_error(app, run, tmp_path):
    result = run("export", "--output", str(tmp_path / "missing-folder" / "comments.jsonl"))

    assert result.exit_code == 1
    assert "cannot write" in result.output and "Traceback" not in result.output
    assert "export" not in audit_actions(app)  # nothing was exported


def test_each_export_is_written_to_the_audit_log(app, run, three):
    run("export", "--format", "csv")
    run("export-audit", "--format", "jsonl")

    with app.app_context():
        entries = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id)
        ).scalars()
        details = [json.loads(e.detail) for e in entries]
    assert details == [
        {"data": "comments", "format": "csv"},
        {"data": "audit", "format": "jsonl"},
    ]


def test_cli_exports_the_audit_log(app, run, three, moderator):
    with app.app_context():
        moderation.apply(three["other"], moderation.Action.REJECT, reason="广告")

    rows = jsonl(run("export-audit").output)

    rejection = next(r for r in rows if r["action"] == "reject")
    assert rejection["comment_id"] == three["other"]
    assert (rejection["from_status"], rejection["to_status"]) == ("pending", "rejected")
    assert rejection["detail"] == {"reason": "广告"}
    assert rejection["created_at"].endswith("+08:00")
    assert rows[-1]["action"] == "export"  # the export records itself before it reads


def test_a_large_export_streams_every_row(app, ctx, make_comment):
    for n in range(2500):  # more than two pages of PAGE rows
        make_comment(article=f"a{n % 7}", body=f"第{n}条")

    chunks = list(exports.export_comments(exports.Format.JSONL))

    assert len(chunks) >= 3
    rows = jsonl("".join(chunks))
    assert len(rows) == 2500
    assert rows[-1]["body"] == "第2499条"


# --- the admin's downloads ----------------------------------------------------------------------


def test_admin_downloads_comments_as_csv(admin_client, three, app):
    response = admin_client.get("/mod/admin/export/comments?format=csv&article=67584")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="comments-')
    assert response.headers["Cache-Control"] == "no-store"
    rows = csv_rows(response.get_data(as_text=True))
    assert [int(r["id"]) for r in rows] == [three["old"], three["reply"]]
    assert "export" in audit_actions(app)


def test_admin_downloads_the_audit_log_as_json_lines(admin_client, three):
    response = admin_client.get("/mod/admin/export/audit?format=jsonl")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert jsonl(response.get_data(as_text=True))[-1]["actor"] == "laoli"


@pytest.mark.parametrize(
    "query", ["format=xml", "since=2026-13-40", "article=%E4%B8%AD%E6%96%87"], ids=str
)
def test_bad_export_filters_get_a_clear_400(admin_client, query):
    response = admin_client.get(f"/mod/admin/export/comments?{query}")

    assert response.status_code == 400
    assert "<h1>" in response.get_data(as_text=True)


def test_the_data_page_offers_the_downloads(admin_client):
    page = admin_client.get("/mod/admin/data").get_data(as_text=True)

    assert 'action="/mod/admin/export/comments"' in page
    assert 'action="/mod/admin/export/audit"' in page
    assert "180" in page  # the retention periods are stated


@pytest.mark.parametrize("path", ["/mod/admin/export/comments", "/mod/admin/export/audit"])
def test_moderators_who_are_not_admins_cannot_export(mod_client, path):
    assert mod_client.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/mod/admin/export/comments", "/mod/admin/data"])
def test_exports_need_a_signed_in_admin(client, path):
    response = client.get(path)

    assert response.status_code in (302, 303)
    assert "/mod/login" in response.headers["Location"]


def test_the_audit_page_links_to_its_export(admin_client):
    page = admin_client.get("/mod/admin/audit").get_data(as_text=True)

    assert "/mod/admin/export/audit?format=csv" in page


def test_a_download_is_no_form_post(admin_client):
    """GET downloads need no CSRF token; the POST route does not exist."""
    response = form_post(admin_client, "/mod/admin/export/comments")

    assert response.status_code == 405
