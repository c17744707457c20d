"""The under-attack mode: on with a surge or a wave, off by itself; limits and proof of work."""

from __future__ import annotations

import json

import altcha
import pytest
from helpers import post_as
from sqlalchemy import func, select

from service import antispam
from service.extensions import db
from service.models import AuditEntry, Comment

COOLDOWN = 300


SHORT = ["支持", "说得好", "顶", "转发了", "赞一个", "学习了", "有道理", "期待后续"]


def reader_text(n: int) -> str:
    """Short, ordinary comments: never compared, so never a wave (only the surge counts)."""
    return SHORT[n % len(SHORT)] + "！" * (n % 3)


def ip(n: int) -> str:
    return f"198.51.100.{n % 250 + 1}"


def mode_entries(app) -> list[dict]:
    with app.app_context():
        entries = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "attack_mode").order_by(AuditEntry.id)
        ).scalars()
        return [{"actor": e.actor, **json.loads(e.detail)} for e in entries]


def is_on(app) -> bool:
    with app.test_request_context():
        return antispam.is_on()


@pytest.fixture
def surge_app(wave_app):
    # Attempts are counted by the posting limit: rate limits on (each reader has an address).
    return wave_app(
        RATELIMIT_ENABLED=True, ATTACK_SITE_RATE=20, ATTACK_ARTICLE_RATE=0, ATTACK_COOLDOWN=COOLDOWN
    )


def test_a_surge_switches_the_mode_on_and_it_switches_off_by_itself(surge_app, clock):
    client = surge_app.test_client()
    for n in range(19):
        post_as(client, ip(n), reader_text(n))
    assert not is_on(surge_app)

    post_as(client, ip(19), reader_text(19))

    assert is_on(surge_app)
    assert mode_entries(surge_app) == [
        {"actor": "system", "on": True, "reason": "surge: 20 posts a minute site-wide"}
    ]
    clock.advance(120)  # the surge is over: posts come one at a time again
    post_as(client, ip(20), reader_text(20))
    assert is_on(surge_app)  # still within the cooldown

    clock.advance(COOLDOWN)

    assert not is_on(surge_app)
    post_as(client, ip(21), reader_text(21))  # the next post records the end
    entries = mode_entries(surge_app)
    assert [(e["actor"], e["on"]) for e in entries] == [("system", True), ("system", False)]


def test_a_surge_on_one_article_switches_the_mode_on(wave_app):
    app = wave_app(RATELIMIT_ENABLED=True, ATTACK_SITE_RATE=0, ATTACK_ARTICLE_RATE=10)
    client = app.test_client()
    for n in range(10):
        post_as(client, ip(n), reader_text(n), article="hot")

    assert is_on(app)
    assert mode_entries(app)[0]["reason"] == "surge: 10 posts a minute on article hot"


def test_posts_spread_over_time_never_switch_it_on(surge_app, clock):
    client = surge_app.test_client()
    for n in range(60):
        post_as(client, ip(n), reader_text(n))
        clock.advance(6)  # 10 a minute

    assert not is_on(surge_app)
    assert mode_entries(surge_app) == []


def test_with_rate_limits_off_a_flood_is_a_load_test_not_a_surge(wave_app):
    app = wave_app(RATELIMIT_ENABLED=False, ATTACK_SITE_RATE=5)
    client = app.test_client()
    for n in range(20):
        assert post_as(client, ip(n), reader_text(n)).status_code == 202

    assert not is_on(app)


def test_a_wave_switches_the_mode_on(wave_app):
    app = wave_app()
    client = app.test_client()
    for n in range(5):
        post_as(client, ip(n), f"博彩官网注册就送888彩金，提款秒到账，网址 bc{n}xx.com")

    assert is_on(app)
    assert mode_entries(app)[0]["reason"] == "wave #1"


def switch_on(app) -> None:
    with app.test_request_context():
        antispam.trigger("test")


def test_under_attack_each_address_gets_the_tighter_posting_limit(wave_app):
    app = wave_app(
        RATELIMIT_ENABLED=True, RATELIMIT_POST="10/minute", RATELIMIT_POST_UNDER_ATTACK="2/minute"
    )
    client = app.test_client()
    assert [post_as(client, "192.0.2.1", reader_text(n)).status_code for n in range(3)] == [202] * 3

    switch_on(app)
    answers = [post_as(client, "192.0.2.2", reader_text(n)).status_code for n in range(3)]

    assert answers == [202, 202, 429]
    # Other readers, each from their own address, post as before.
    assert post_as(client, "192.0.2.3", reader_text(9)).status_code == 202


def test_refused_attempts_count_towards_the_surge(wave_app):
    app = wave_app(
        RATELIMIT_ENABLED=True, RATELIMIT_POST="1/minute", ATTACK_SITE_RATE=6, ATTACK_COOLDOWN=60
    )
    client = app.test_client()
    answers = [post_as(client, "192.0.2.9", reader_text(n)).status_code for n in range(6)]

    assert answers == [202] + [429] * 5
    assert is_on(app)


# --- proof of work -------------------------------------------------------------------------


@pytest.fixture
def pow_app(wave_app):
    app = wave_app(ATTACK_POW_MAX_NUMBER=3000)
    switch_on(app)
    return app


def solve(challenge: dict) -> str:
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    assert solution is not None
    payload = {**{k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}}
    return altcha.PayloadV1(number=solution.number, **payload).to_base64()


def new_captcha(client) -> dict:
    return client.get("/captcha", headers={"X-Forwarded-For": "192.0.2.1"}).get_json()


def send(client, token: str, proof: str | None, answer: str = "PASSED"):
    payload = {"body": reader_text(1), "captcha_token": token, "captcha_answer": answer}
    if proof is not None:
        payload["proof_of_work"] = proof
    return client.post(
        "/api/v1/articles/a1/comments", json=payload, headers={"X-Forwarded-For": "192.0.2.1"}
    )


def test_the_captcha_carries_a_puzzle_only_under_attack(wave_app):
    app = wave_app()
    client = app.test_client()
    assert "proof_of_work" not in new_captcha(client)

    switch_on(app)
    puzzle = new_captcha(client)["proof_of_work"]

    assert puzzle["algorithm"] == "SHA-256"
    assert set(puzzle) == {"algorithm", "challenge", "maxNumber", "salt", "signature"}


def test_a_solved_puzzle_lets_the_post_through(pow_app):
    client = pow_app.test_client()
    captcha = new_captcha(client)

    answer = send(client, captcha["token"], solve(captcha["proof_of_work"]))

    assert answer.status_code == 202


def test_without_a_proof_the_answer_brings_a_puzzle_and_the_captcha_stays_unspent(pow_app):
    client = pow_app.test_client()
    token = new_captcha(client)["token"]

    refused = send(client, token, None)

    error = refused.get_json()["error"]
    assert refused.status_code == 422
    assert error["code"] == "proof_of_work_required"
    assert "proof_of_work" in error["fields"]
    retried = send(client, token, solve(error["proof_of_work"]))
    assert retried.status_code == 202


def test_a_proof_for_another_captcha_is_refused(pow_app):
    client = pow_app.test_client()
    first, second = new_captcha(client), new_captcha(client)

    answer = send(client, second["token"], solve(first["proof_of_work"]))

    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "proof_of_work_required"


@pytest.mark.parametrize(
    "proof",
    ["", "!!!", "bm90IGpzb24=", "W10=", "x" * 5000, "eyJhbGdvcml0aG0iOiAiU0hBLTEifQ=="],
    ids=["empty", "not-base64", "not-json", "list", "huge", "sha1"],
)
def test_a_malformed_proof_is_a_clear_422(pow_app, proof):
    client = pow_app.test_client()

    answer = send(client, new_captcha(client)["token"], proof)

    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "proof_of_work_required"


def test_passed_stands_in_for_the_proof_only_in_captcha_test_mode(make_app, solved):
    app = make_app(TRUSTED_PROXIES=1)
    switch_on(app)
    client = app.test_client()
    token, answer = solved()

    refused = send(client, token, "PASSED", answer=answer)

    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "proof_of_work_required"


def test_no_proof_is_asked_when_the_mode_is_off(wave_app):
    client = wave_app().test_client()

    assert send(client, new_captcha(client)["token"], None).status_code == 202


def table_rows(app) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in db.metadata.sorted_tables
        }


def test_issuing_a_captcha_writes_nothing_even_under_attack(pow_app):
    client = pow_app.test_client()
    before = table_rows(pow_app)

    for _ in range(5):
        assert "proof_of_work" in new_captcha(client)

    assert table_rows(pow_app) == before


def test_the_widget_form_without_javascript_says_why_in_chinese(pow_app):
    client = pow_app.test_client()
    token = new_captcha(client)["token"]

    page = client.post(
        "/embed/a1",
        data={"body": reader_text(1), "captcha_token": token, "captcha_answer": "PASSED"},
        headers={"X-Forwarded-For": "192.0.2.1"},
    )

    assert page.status_code == 422
    assert "请启用 JavaScript" in page.get_data(as_text=True)
    with pow_app.app_context():
        assert db.session.execute(select(func.count(Comment.id))).scalar_one() == 0


def test_the_dashboard_shows_a_banner_while_the_mode_is_on(wave_app, mod_client, clock):
    app = mod_client.application
    app.extensions["antispam"].clock = clock
    assert "受攻击模式" not in mod_client.get("/mod/queue").get_data(as_text=True)

    switch_on(app)

    assert "受攻击模式" in mod_client.get("/mod/queue").get_data(as_text=True)
    clock.advance(app.config["ATTACK_COOLDOWN"] + 1)
    assert "受攻击模式" not in mod_client.get("/mod/queue").get_data(as_text=True)
