"""In headless Chromium: the widget solves the proof of work; a wave is decided with one key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import altcha
import pytest
from browser import login
from flask import Flask
from helpers import add_account, post_as
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from service import antispam
from service.antispam import SpamWave, WaveStatus
from service.extensions import db
from service.models import Comment, Status

pytest_plugins = ["browser"]

ARTICLE = "67584"
BODY = "家门口那条路修了三年还没完工，希望有关部门尽快给个说法。"


@pytest.fixture
def app(wave_app: Callable[..., Flask]) -> Flask:
    return wave_app(ATTACK_POW_MAX_NUMBER=20000)


def switch_on(app: Flask) -> None:
    with app.test_request_context():
        antispam.trigger("browser test")


def is_post(request) -> bool:  # type: ignore[no-untyped-def]
    return request.method == "POST" and request.url.split("?")[0].endswith(
        f"/api/v1/articles/{ARTICLE}/comments"
    )


def open_widget(context: BrowserContext) -> Page:
    page = context.new_page()
    page.goto(f"/embed/{ARTICLE}")
    expect(page.locator("#cw-captcha-token")).not_to_have_value("")
    return page


def fill(page: Page) -> None:
    page.locator("#cw-body").fill(BODY)
    page.locator("#cw-captcha").fill("PASSED")


def solved_for_real(app: Flask, proof: str) -> bool:
    """The proof is a real ALTCHA solution (not the test mode's PASSED) the service accepts."""
    payload = json.loads(base64.b64decode(proof))
    with app.app_context():
        key = antispam.attack_mode._hmac_key()
    return isinstance(payload["number"], int) and altcha.verify_solution_v1(proof, key)[0]


@pytest.mark.browser
def test_under_attack_the_widget_solves_the_proof_of_work_before_posting(
    app: Flask, new_context: Callable[..., BrowserContext]
) -> None:
    switch_on(app)
    page = open_widget(new_context())
    fill(page)

    with (
        page.expect_request(is_post) as sent,
        page.expect_response(lambda r: is_post(r.request)) as answered,
    ):
        page.locator(".cw-submit").click()

    assert answered.value.status == 202
    assert solved_for_real(app, sent.value.post_data_json["proof_of_work"])
    with app.app_context():
        comment = db.session.execute(select(Comment)).scalar_one()
        assert (comment.body, comment.status) == (BODY, Status.PENDING)


@pytest.mark.browser
def test_when_the_mode_comes_on_after_the_captcha_the_widget_retries_by_itself(
    app: Flask, new_context: Callable[..., BrowserContext]
) -> None:
    page = open_widget(new_context())  # its captcha came without a puzzle
    switch_on(app)
    fill(page)
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if is_post(r.request) else None)

    page.locator(".cw-submit").click()

    expect(page.locator("#cw-status")).to_contain_text("审核")
    assert answers == [422, 202]
    with app.app_context():
        assert db.session.execute(select(Comment.body)).scalars().all() == [BODY]


@pytest.mark.browser
def test_one_key_confirms_a_wave_and_the_toast_undoes_it(app: Flask, page: Page) -> None:
    # A password typed key by key (the sign-in helper types, it does not paste).
    moderator = add_account(app, "langchao", "ascii-only-password-2026")
    client = app.test_client()
    for n in range(6):
        post_as(
            client,
            f"198.51.100.{n + 1}",
            f"专业删帖，负面处理，加扣扣 {300000 + n} 咨询，价格公道。",
        )
    login(page, moderator, "ascii-only-password-2026")
    page.goto("/mod/waves")
    item = page.locator("#items > .item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("6 条相似评论，来自 6 个地址，涉及 1 篇文章")
    expect(page.locator(".banner-attack")).to_be_visible()  # the wave switched the mode on

    page.keyboard.press("s")

    expect(item).to_have_count(0)
    expect(page.locator('[data-count="waves"]')).to_have_text("0")
    with app.app_context():
        assert db.session.get(SpamWave, 1).status == WaveStatus.CONFIRMED
    with page.expect_navigation():
        page.locator("#toast button").click()
    expect(page.locator("#items > .item")).to_have_count(1)
    with app.app_context():
        assert db.session.get(SpamWave, 1).status == WaveStatus.OPEN
