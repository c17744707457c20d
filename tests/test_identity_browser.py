"""Signed-in readers in a real browser: data-identity on a portal page on another site.

The portal (``http://localhost:PORT1``) renders the README's embed with a token
made as the README's Python example makes it; the service runs on
``http://127.0.0.1:PORT2`` and requires an identity (COMMENTS_REQUIRE_IDENTITY),
with Chromium blocking third-party cookies as readers' browsers do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import jwt
import pytest
from browser import (
    CHROMIUM_ARGS_NO_THIRD_PARTY_COOKIES,
    StaticSite,
    chromium_from,
    serve_site,
)
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, FrameLocator, Page, Playwright, expect
from sqlalchemy import select

from service.extensions import db
from service.models import Comment

pytest_plugins = ["browser"]
pytestmark = pytest.mark.browser

SECRET = "门户与评论服务共享的密钥-browser-0123456789abcdef"
ARTICLE = "67584"
SIGNED_IN = f"/news/{ARTICLE}.html"
GUEST = f"/news/{ARTICLE}-guest.html"


def token_for(sub: str, name: str) -> str:
    claims = {"sub": sub, "name": name, "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def portal_html(service: str, token: str | None) -> str:
    identity = f' data-identity="{token}"' if token else ""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>政务服务 - 示例门户</title></head>
<body><h1>关于进一步优化政务服务的实施意见</h1>
<div data-comments data-article="{ARTICLE}"{identity}></div>
<script src="{service}/embed.js" async></script>
</body></html>"""


@pytest.fixture(scope="module")
def portal_site() -> Iterator[StaticSite]:
    with serve_site("localhost") as site:
        yield site


@pytest.fixture
def app(make_app: Callable[..., Flask], portal_site: StaticSite) -> Flask:
    return make_app(
        CAPTCHA_TEST_MODE=True,
        ALLOWED_ORIGINS=[portal_site.origin],
        IDENTITY_SECRET=SECRET,
        REQUIRE_IDENTITY=True,
        LOGIN_URL=portal_site.url("/login?next={url}"),
    )


@pytest.fixture(scope="module")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    with chromium_from(playwright_driver, CHROMIUM_ARGS_NO_THIRD_PARTY_COOKIES) as browser:
        yield browser


@pytest.fixture
def tokens(portal_site: StaticSite, live_server: str) -> dict[str, str]:
    """The portal's pages: one for signed-in user 10086, one for a guest."""
    made = {"10086": token_for("10086", "张三")}
    portal_site.pages = {
        SIGNED_IN: lambda: portal_html(live_server, made["10086"]),
        GUEST: lambda: portal_html(live_server, None),
    }
    return made


def open_article(context: BrowserContext, url: str) -> tuple[Page, FrameLocator]:
    page = context.new_page()
    page.goto(url)
    return page, page.frame_locator("iframe")


def submit(page: Page, ui: FrameLocator, body: str) -> dict[str, object]:
    # The captcha arrives by its own request: wait for its token (a busy machine is slow).
    expect(ui.locator('input[name="captcha_token"]')).not_to_have_value("")
    ui.locator("#cw-body").fill(body)
    ui.locator("#cw-captcha").press_sequentially("PASSED")
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith("/comments")
    ) as info:
        ui.locator(".cw-submit").click()
    assert info.value.status == 202, info.value.text()
    return info.value.json()


def comments_of(app: Flask) -> list[tuple[str, str | None, str | None]]:
    with app.app_context():
        rows = db.session.execute(select(Comment).order_by(Comment.id)).scalars()
        return [(c.body, c.author_identity, c.author_identity_name) for c in rows]


def test_signed_in_reader_comments_as_their_portal_user_and_the_token_stays_out_of_urls(
    app, new_context, portal_site, tokens
):
    context = new_context()
    urls: list[str] = []
    context.on("request", lambda request: urls.append(request.url))
    page, ui = open_article(context, portal_site.url(SIGNED_IN))

    expect(ui.locator("#comment-form")).to_be_visible()
    expect(ui.locator("#cw-login")).to_be_hidden()
    answer = submit(page, ui, "实名登录后发表的评论 ✍️")

    assert answer["status"] == "pending"
    assert comments_of(app) == [("实名登录后发表的评论 ✍️", "10086", "张三")]
    assert tokens["10086"] not in page.locator("iframe").get_attribute("src")
    signature = tokens["10086"].rsplit(".", 1)[1]
    leaked = [url for url in urls if signature in url]
    assert not leaked, f"the identity token travelled in a URL: {leaked}"


def test_a_renewed_token_reaches_the_frame(app, new_context, portal_site, tokens):
    page, ui = open_article(new_context(), portal_site.url(SIGNED_IN))
    expect(ui.locator("#comment-form")).to_be_visible()

    renewed = token_for("20002", "李四")
    page.evaluate(
        "t => document.querySelector('[data-comments]').setAttribute('data-identity', t)", renewed
    )
    expect(ui.locator("#cw-identity")).to_have_value(renewed)
    submit(page, ui, "换了令牌之后")

    assert comments_of(app) == [("换了令牌之后", "20002", "李四")]


def test_pending_comments_follow_the_reader_to_another_device(
    app, new_context, portal_site, tokens
):
    phone_page, phone = open_article(new_context(), portal_site.url(SIGNED_IN))
    expect(phone.locator("#comment-form")).to_be_visible()
    submit(phone_page, phone, "在手机上写的，电脑上也能看到 📱")

    _laptop_page, laptop = open_article(new_context(), portal_site.url(SIGNED_IN))

    mine = laptop.locator("#cw-own")
    expect(mine).to_be_visible()
    expect(mine).to_contain_text("在手机上写的，电脑上也能看到 📱")
    expect(mine).to_contain_text("审核中")


def test_a_guest_is_offered_the_portal_sign_in_instead_of_the_form(
    new_context, portal_site, tokens
):
    page, ui = open_article(new_context(), portal_site.url(GUEST))

    link = ui.get_by_role("link", name="登录后评论")
    expect(link).to_be_visible()
    expect(ui.locator("#comment-form")).to_be_hidden()
    href = link.get_attribute("href")
    assert href == portal_site.url("/login?next=") + quote(portal_site.url(GUEST), safe="")
    assert link.get_attribute("target") == "_top"
    portal_site.pages["/login"] = lambda: "<!doctype html><title>登录</title><p>门户登录页"
    link.click()
    page.wait_for_url(portal_site.url("/login") + "*")  # the whole window, not the frame
