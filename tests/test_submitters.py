"""One submitter's data, by portal identity or IP: looked up, exported and erased,
from the CLI and the admin dashboard, and recorded in the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from helpers import csrf_token, form_post
from sqlalchemy import select, update

from service import submitters
from service.bans import add_ban
from service.extensions import db
from service.models import Article, AuditEntry, Comment, Status

IDENTITY = "portal-user-1001"
HOME, AWAY = "203.0.113.7", "198.51.100.1"


@pytest.fixture
def run(app: Flask, runner: FlaskCliRunner) -> Callable[..., Result]:
    def invoke(*args: str, input: str | None = None) -> Result:
        with app.app_context():
            return runner.invoke(args=list(args), input=input)

    return invoke


@pytest.fixture
def held(app, make_comment, pending) -> dict[str, int]:
    """A portal user's comments (one answered by someone else), and a stranger's."""
    ids = {
        "mine": make_comment(article="67584", body="我的评论", remote_addr=HOME),
        "mine-pending": pending(article="67590", body="我在审核中的评论", remote_addr=HOME),
        "mine-elsewhere": make_comment(article="67590", body="换了网络", remote_addr=AWAY),
        "stranger": make_comment(article="67584", body="别人的评论", remote_addr="192.0.2.5"),
    }
    ids["answer"] = make_comment(
        article="67584", body="别人回复我", parent_id=ids["mine"], remote_addr="192.0.2.6"
    )
    with app.app_context():
        db.session.execute(
            update(Comment)
            .where(Comment.id.in_([ids["mine"], ids["mine-pending"], ids["mine-elsewhere"]]))
            .values(author_identity=IDENTITY, user_agent="Mozilla/5.0 (Phone)")
        )
        db.session.commit()
    return ids


def get(app: Flask, comment_id: int) -> Comment | None:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        if comment is not None:
            db.session.expunge(comment)
        return comment


def approved_count(app: Flask, key: str) -> int:
    with app.app_context():
        return db.session.execute(
            select(Article.approved_count).where(Article.key == key)
        ).scalar_one()


def audit_log(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        entries = list(db.session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
        for entry in entries:
            db.session.expunge(entry)
        return entries


# --- finding a submitter -------------------------------------------------------------------------


def test_a_submitter_is_found_by_identity_across_addresses(app, ctx, held):
    holding = submitters.find_holding(submitters.Submitter(identity=IDENTITY))

    assert holding.total == 3
    assert holding.counts == {"approved": 2, "pending": 1}
    assert {c["id"] for c in holding.latest} == {
        held["mine"],
        held["mine-pending"],
        held["mine-elsewhere"],
    }
    assert holding.first <= holding.last


def test_a_submitter_is_found_by_exact_address_with_the_bans_that_cover_it(app, ctx, held):
    add_ban("203.0.113.0/24", 7, "spam wave", None)

    holding = submitters.find_holding(submitters.check_submitter(ip="203.0.113.7"))

    assert holding.total == 2
    assert [b["network"] for b in holding.bans] == ["203.0.113.0/24"]


@pytest.mark.parametrize(
    ("identity", "ip"),
    [(None, None), ("", " "), (IDENTITY, HOME), (None, "203.0.113.300"), ("x" * 129, None)],
    ids=["neither", "blank", "both", "bad-ip", "long-identity"],
)
def test_exactly_one_valid_selector_is_needed(ctx, identity, ip):
    with pytest.raises(submitters.BadRequest):
        submitters.check_submitter(identity, ip)


def test_addresses_are_looked_up_in_their_stored_form(ctx):
    assert submitters.check_submitter(ip=" 2001:0db8::0001 ").ip == "2001:db8::1"
    assert submitters.check_submitter(ip="203.0.113.7/24").ip == "203.0.113.0/24"


# --- the CLI --------------------------------------------------------------------------------------


def test_cli_exports_everything_held_about_an_identity(app, run, held):
    result = run("submitter", "export", "--identity", IDENTITY)

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["submitter"] == {"identity": IDENTITY}
    assert [c["body"] for c in document["comments"]] == ["我的评论", "我在审核中的评论", "换了网络"]
    assert {c["remote_addr"] for c in document["comments"]} == {"203.0.113.7", "198.51.100.1"}
    assert document["comments"][0]["user_agent"] == "Mozilla/5.0 (Phone)"
    assert document["retention"] == {"ip_days": 180, "purge_days": 180}
    entry = audit_log(app)[-1]
    assert entry.action == "submitter_export"
    assert IDENTITY not in entry.detail  # a keyed hash names the submitter, not the identity
    assert json.loads(entry.detail)["comments"] == 3


def test_cli_erases_an_identity_keeping_what_others_answered_as_a_shell(app, run, held, client):
    before = approved_count(app, "67584")

    result = run("submitter", "erase", "--identity", IDENTITY, "--yes")

    assert result.exit_code == 0, result.output
    assert "erased 2 comments; 1 kept as empty shells" in result.output
    assert get(app, held["mine-pending"]) is None and get(app, held["mine-elsewhere"]) is None
    shell = get(app, held["mine"])
    assert (shell.author, shell.body, shell.remote_addr, shell.user_agent) == ("", "", None, None)
    assert shell.author_identity is None and shell.deleted_at is not None
    assert get(app, held["answer"]).parent_id == held["mine"]
    assert get(app, held["stranger"]).body == "别人的评论"
    assert approved_count(app, "67584") == before - 1
    assert approved_count(app, "67590") == 0
    counts = client.get("/api/v1/counts?article=67584&article=67590").get_json()["counts"]
    assert counts == {"67584": before - 1, "67590": 0}
    entries = audit_log(app)
    assert [e.action for e in entries if e.action in ("erase", "submitter_erase")] == [
        "erase",
        "erase",
        "erase",
        "submitter_erase",
    ]
    assert all(IDENTITY not in (e.detail or "") for e in entries)
    assert submitters.Submitter(identity=IDENTITY).value == IDENTITY


def test_cli_erases_by_address_only_that_address(app, run, held):
    result = run("submitter", "erase", "--ip", "198.51.100.1", "--yes")

    assert result.exit_code == 0, result.output
    assert get(app, held["mine-elsewhere"]) is None
    assert get(app, held["mine"]) is not None and get(app, held["mine-pending"]) is not None


def test_cli_asks_before_erasing(app, run, held):
    result = run("submitter", "erase", "--identity", IDENTITY, input="n\n")

    assert result.exit_code == 1
    assert "Erase 3 comments for good?" in result.output
    assert get(app, held["mine-pending"]) is not None


def test_cli_refuses_both_selectors(run):
    result = run("submitter", "export", "--identity", IDENTITY, "--ip", "203.0.113.7")

    assert result.exit_code == 1
    assert "Traceback" not in result.output


# --- the dashboard --------------------------------------------------------------------------------


def test_admin_sees_what_is_held_and_escaped(admin_client, held, app):
    with app.app_context():
        db.session.execute(
            update(Comment)
            .where(Comment.id == held["mine"])
            .values(body="<script>alert(1)</script>")
        )
        db.session.commit()

    page = admin_client.get(f"/mod/admin/submitter?identity={IDENTITY}").get_data(as_text=True)

    assert "3 条评论" in page or "3 comments" in page
    assert "203.0.113.7" in page and "换了网络" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert 'name="csrf_token"' in page


def test_admin_downloads_a_submitters_data_with_a_csrf_token(admin_client, held, app):
    response = form_post(admin_client, "/mod/admin/submitter/export", {"ip": "203.0.113.7"})

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="submitter-')
    document = json.loads(response.get_data(as_text=True))
    assert len(document["comments"]) == 2
    assert audit_log(app)[-1].actor == "laoli"


def test_posts_without_a_csrf_token_are_refused(admin_client, held, app):
    export = admin_client.post("/mod/admin/submitter/export", data={"ip": "203.0.113.7"})
    erase = admin_client.post(
        "/mod/admin/submitter/erase", data={"ip": "203.0.113.7", "confirm": "yes"}
    )

    assert export.status_code == 400 and erase.status_code == 400
    assert get(app, held["mine"]) is not None


def test_erasing_from_the_dashboard_needs_the_ticked_box(admin_client, held, app):
    unticked = form_post(admin_client, "/mod/admin/submitter/erase", {"identity": IDENTITY})
    assert unticked.status_code == 400
    assert get(app, held["mine-pending"]) is not None

    ticked = form_post(
        admin_client, "/mod/admin/submitter/erase", {"identity": IDENTITY, "confirm": "yes"}
    )

    assert ticked.status_code == 303
    assert get(app, held["mine-pending"]) is None
    after = admin_client.get(ticked.headers["Location"]).get_data(as_text=True)
    assert "已删除 2 条评论" in after or "Erased 2 comments" in after
    assert audit_log(app)[-1].action == "submitter_erase"


def test_a_bad_address_gets_a_clear_400_page(admin_client):
    response = admin_client.get("/mod/admin/submitter?ip=not-an-ip")

    assert response.status_code == 400
    assert "IP" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/mod/admin/submitter?ip=203.0.113.7"),
        ("post", "/mod/admin/submitter/export"),
        ("post", "/mod/admin/submitter/erase"),
    ],
)
def test_only_admins_reach_a_submitters_data(mod_client, method, path):
    if method == "post":
        response = mod_client.post(
            path, data={"csrf_token": csrf_token(mod_client), "ip": "203.0.113.7", "confirm": "yes"}
        )
    else:
        response = mod_client.get(path)

    assert response.status_code == 403


def test_the_admin_menu_links_to_the_data_page(admin_client, mod_client):
    assert "/mod/admin/data" in admin_client.get("/mod/").get_data(as_text=True)
    assert "/mod/admin/data" not in mod_client.get("/mod/").get_data(as_text=True)


def test_pending_comments_show_their_status_after_erasure(app, held, ctx):
    submitters.erase_submitter(submitters.Submitter(ip="192.0.2.5"), None)

    assert get(app, held["stranger"]) is None
    assert get(app, held["mine"]).status == Status.APPROVED
