"""The admin's data pages in Chromium: an export downloaded, a submitter erased with the
plain forms, and both pages checked by axe-core (WCAG 2.2 AA)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import pytest
from browser import artifact, axe_summary, login, run_axe
from flask import Flask
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import func, select, update

from service import auth
from service.extensions import db
from service.models import Comment

pytest_plugins = ["browser"]

pytestmark = pytest.mark.browser

ADMIN = "guanliyuan"
PASSWORD = "guanliyuan-mima-2024"


def admin_page(app: Flask, new_context: Callable[..., BrowserContext], **options: object):
    with app.app_context():
        auth.add_moderator(ADMIN, PASSWORD, admin=True)
    page = new_context(accept_downloads=True, **options).new_page()
    login(page, ADMIN, PASSWORD)
    return page


def test_admin_downloads_the_comments_from_the_data_page(
    app: Flask, new_context: Callable[..., BrowserContext], make_comment: Callable[..., int]
) -> None:
    make_comment(article="67584", body="导出的评论 👍", author="老读者")
    page = admin_page(app, new_context)

    page.goto("/mod/admin/data")
    form = page.locator("form[action='/mod/admin/export/comments']")
    form.locator("select[name=format]").select_option("csv")
    with page.expect_download() as download_info:
        form.locator("button[type=submit]").click()
    download = download_info.value
    content = download.path().read_text(encoding="utf-8-sig")

    assert download.suggested_filename.startswith("comments-")
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert [(r["article"], r["author"], r["body"]) for r in rows] == [
        ("67584", "老读者", "导出的评论 👍")
    ]


def test_admin_finds_downloads_and_erases_a_submitter_without_javascript(
    app: Flask, new_context: Callable[..., BrowserContext], make_comment: Callable[..., int]
) -> None:
    mine = make_comment(body="要删除的评论", remote_addr="203.0.113.7")
    make_comment(body="别人的评论", remote_addr="192.0.2.5")
    with app.app_context():
        db.session.execute(update(Comment).where(Comment.id == mine).values(author_identity="u9"))
        db.session.commit()
    page = admin_page(app, new_context, java_script_enabled=False)

    page.goto("/mod/admin/data")
    page.locator("input[name=identity]").fill("u9")
    with page.expect_navigation():
        page.get_by_role("button", name="查找").click()
    expect(page.locator("h2").first).to_have_text("门户用户标识 u9")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="下载保存的全部数据（JSON）").click()
    document = json.loads(download_info.value.path().read_text(encoding="utf-8"))
    assert [c["body"] for c in document["comments"]] == ["要删除的评论"]

    page.get_by_role("checkbox").check()
    with page.expect_navigation():
        page.get_by_role("button", name="删除", exact=True).click()

    expect(page.locator(".flash-success")).to_contain_text("已删除 1 条评论")
    expect(page.locator("main")).to_contain_text("没有这位评论者的评论。")
    with app.app_context():
        assert db.session.execute(select(func.count(Comment.id))).scalar_one() == 1


@pytest.mark.parametrize(
    "path", ["/mod/admin/data", "/mod/admin/submitter?ip=203.0.113.7"], ids=["data", "submitter"]
)
def test_the_data_pages_pass_an_accessibility_audit(
    app: Flask,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
    path: str,
) -> None:
    make_comment(body="一条评论", remote_addr="203.0.113.7")
    # bypass_csp: the dashboard's CSP (script-src 'self') would refuse the injected axe.
    page = admin_page(app, new_context, bypass_csp=True)
    page.goto(path)

    summary = axe_summary(run_axe(page))
    name = "axe-admin-" + path.split("/")[-1].split("?")[0] + ".json"
    artifact(name).write_text(json.dumps(summary, ensure_ascii=False, indent=2))

    assert summary["violations"] == [], json.dumps(summary["violations"], ensure_ascii=False)
