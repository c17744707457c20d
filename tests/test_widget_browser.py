"""The widget as readers meet it: a portal on another site embeds it with two lines.

A tiny portal serves an article page on ``http://localhost:PORT1`` with the README's
two-line embed and a listing filled by count.js; the service runs on
``http://127.0.0.1:PORT2`` (a different site), so the widget is a third-party frame.
Chromium blocks third-party cookies there, as readers' browsers now do. The portal's
port is bound first: the app is built with it as its only allowed origin.

The last test measures the bytes readers download (scripts/measure_sizes.py) and
needs no browser.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import (
    CHROMIUM_ARGS_NO_THIRD_PARTY_COOKIES,
    StaticSite,
    artifact,
    axe_summary,
    chromium_from,
    full_page_screenshot,
    require_axe,
    run_axe,
    serve_site,
    wait_until,
)
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Frame,
    FrameLocator,
    Locator,
    Page,
    Playwright,
    expect,
)
from sqlalchemy import func, select

from service import moderation
from service.extensions import db
from service.models import Comment, Like, Report, Status
from service.moderation import Action

pytest_plugins = ["browser"]

ARTICLE = "67584"
OTHER_ARTICLE = "67590"
TITLE = "关于进一步优化政务服务的实施意见"
NICKNAME = "江南烟雨"
BODY = "政务服务“一网通办”真方便，上周办营业执照只跑了一次！👍🎉"
NOTICE = "评论已提交，审核通过后显示"
PENDING = "审核中"
DELETED = "你的评论已删除。"
WRONG_CAPTCHA = "验证码错误，请重新输入。"
FORBIDDEN_CHARACTERS = "评论中含有不允许的字符。"
EMPTY = "暂无评论，快来发表你的看法吧。"
TEST_ANSWER = "PASSED"
# The iframe's height before the widget first reports its own (embed.js).
INITIAL_FRAME_HEIGHT = 420
# Pixels the iframe may differ from its content (the height is rounded up).
HEIGHT_SLACK = 2
# Milliseconds to wait for what should already be so once the widget is ready (or once
# the request that changes it has answered): short, so a failing check fails fast.
SETTLED_MS = 1000
DEVICES = {"phone": {"width": 360, "height": 780}, "desktop": {"width": 1280, "height": 900}}
SEVERE = ("serious", "critical")
MEASURE_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "measure_sizes.py"

PORTAL_CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.7 system-ui,"Noto Sans CJK SC",sans-serif;color:#222;background:#fff}
.top{background:#b71c1c;color:#fff;padding:10px 16px;font-weight:700}
.wrap{max-width:1100px;margin:0 auto;padding:16px;display:grid;gap:24px;
  grid-template-columns:minmax(0,1fr) 280px}
@media (max-width:760px){.wrap{grid-template-columns:minmax(0,1fr)}}
h1{font-size:1.5rem;line-height:1.4}
.meta{color:#555;font-size:.9rem}
aside ul{padding-left:1.2em}
a{color:#0b5394}
body.dark{background:#0d1117;color:#e6edf3}
body.dark .meta{color:#9da7b3}
body.dark a{color:#8ab4f8}
"""

ARTICLE_TEXT = [
    "为深入推进“放管服”改革，进一步提升政务服务效能，现就优化政务服务提出如下意见。"
    "各地各部门要坚持以人民为中心，推动更多事项“一网通办”“跨省通办”。",
    "到2027年底，政务服务事项网上可办率达到95%以上，企业和群众办事平均跑动次数"
    "压减至0.3次以内。对老年人等群体保留线下窗口，提供帮办代办服务。",
]


def portal_html(service: str, *, lang: str = "", theme: str = "", accent: str = "") -> str:
    """The portal's article page: its text, the two-line embed, a listing with counts."""
    extra = "".join(
        f' data-{name}="{value}"'
        for name, value in (("lang", lang), ("theme", theme), ("accent", accent))
        if value
    )
    paragraphs = "\n".join(f"<p>{p}</p>" for p in ARTICLE_TEXT)
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE} - 示例门户</title>
<style>{PORTAL_CSS}</style>
</head>
<body{' class="dark"' if theme == "dark" else ""}>
<header class="top">示例省政府门户网站</header>
<div class="wrap">
<main>
<h1>{TITLE}</h1>
<p class="meta">来源：示例日报　发布时间：2026-11-28</p>
{paragraphs}
<div data-comments data-article="{ARTICLE}" data-title="{TITLE}"{extra}></div>
<script src="{service}/embed.js" async></script>
</main>
<aside aria-labelledby="list-title">
<h2 id="list-title">政策解读</h2>
<ul>
<li><a href="/news/{ARTICLE}.html">{TITLE}</a>
  评论 <span data-comment-count="{ARTICLE}">–</span></li>
<li><a href="/news/{OTHER_ARTICLE}.html">省道改扩建工程年内开工</a>
  评论 <span data-comment-count="{OTHER_ARTICLE}">–</span></li>
</ul>
<script src="{service}/count.js" async></script>
</aside>
</div>
</body>
</html>
"""


@dataclass(frozen=True)
class Portal:
    service: str
    article: str  # the article page, light, Chinese widget
    dark: str  # data-theme="dark" data-accent="#0b5394"
    english: str  # data-lang="en"


@pytest.fixture(scope="module")
def portal_site() -> Iterator[StaticSite]:
    """The portal's server, bound before any app is built (its origin is allowed there)."""
    with serve_site("localhost") as site:
        yield site


@pytest.fixture
def app(make_app: Callable[..., Flask], portal_site: StaticSite) -> Flask:
    """The service, framed by the portal; the captcha answer PASSED is accepted."""
    return make_app(CAPTCHA_TEST_MODE=True, ALLOWED_ORIGINS=[portal_site.origin])


@pytest.fixture(scope="module")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """Overrides browser.py's: a reader's Chromium that blocks third-party cookies."""
    with chromium_from(playwright_driver, CHROMIUM_ARGS_NO_THIRD_PARTY_COOKIES) as browser:
        yield browser


@pytest.fixture
def portal(portal_site: StaticSite, live_server: str) -> Portal:
    """The portal's pages for this test's live service."""
    paths = {
        "article": f"/news/{ARTICLE}.html",
        "dark": f"/news/{ARTICLE}-dark.html",
        "english": f"/news/{ARTICLE}-en.html",
    }
    portal_site.pages = {
        paths["article"]: lambda: portal_html(live_server),
        paths["dark"]: lambda: portal_html(live_server, theme="dark", accent="#0b5394"),
        paths["english"]: lambda: portal_html(live_server, lang="en"),
    }
    return Portal(live_server, **{name: portal_site.url(path) for name, path in paths.items()})


# --- the widget in a portal page ---------------------------------------------------------


@dataclass
class Widget:
    """A portal page and the comment widget framed in it."""

    page: Page

    @property
    def iframe(self) -> Locator:
        return self.page.locator("iframe")

    @property
    def ui(self) -> FrameLocator:
        return self.page.frame_locator("iframe")

    @property
    def frame(self) -> Frame:
        frame = self.iframe.element_handle().content_frame()
        assert frame is not None, "the iframe has no document"
        return frame

    def count_on_portal(self, article: str = ARTICLE) -> Locator:
        return self.page.locator(f'[data-comment-count="{article}"]')

    def frame_height(self) -> float:
        return self.iframe.evaluate("e => e.getBoundingClientRect().height")

    def content_height(self) -> int:
        """The height of the widget's content (its body), whatever the iframe's height."""
        return self.frame.evaluate("Math.ceil(document.body.getBoundingClientRect().height)")

    def sized(self, timeout: float = 5.0) -> float:
        """Wait until the iframe is as tall as the content; its height."""

        def fits() -> float | None:
            height = self.frame_height()
            return height if abs(height - self.content_height()) <= HEIGHT_SLACK else None

        return wait_until(
            fits,
            lambda: (
                f"the iframe stays {self.frame_height()}px high while the widget's content is "
                f"{self.content_height()}px (frame document scrollHeight "
                f"{self.frame.evaluate('document.documentElement.scrollHeight')}px)"
            ),
            timeout,
        )

    def ready(self) -> Widget:
        """Wait until widget.js has run (it loads the captcha) and the frame is sized."""
        expect(self.ui.locator("#cw-captcha-img")).to_be_visible()
        expect(self.ui.locator("#cw-captcha-token")).not_to_have_value("")
        self.sized()
        return self

    def reload(self) -> Widget:
        self.page.reload()
        return self.ready()

    def post(self, body: str, nickname: str = NICKNAME, answer: str = TEST_ANSWER) -> Any:
        return submit_comment(self.page, self.ui, body, nickname, answer)


def submit_comment(
    page: Page,
    ui: Page | FrameLocator,
    body: str,
    nickname: str = NICKNAME,
    answer: str = TEST_ANSWER,
) -> Any:
    """Type into the widget's real form (in ``ui``) and submit it; the API's JSON answer."""
    if nickname:
        ui.locator("#cw-author").fill("")
        ui.locator("#cw-author").press_sequentially(nickname)
    ui.locator("#cw-body").fill(body)
    ui.locator("#cw-captcha").press_sequentially(answer)
    with page.expect_response(is_comment_post) as info:
        ui.locator(".cw-submit").click()
    return info.value.json()


def is_comment_post(response: Any) -> bool:
    return is_post_request(response.request)


def is_post_request(request: Any) -> bool:
    path = request.url.split("?", 1)[0]
    return request.method == "POST" and path.endswith(f"/api/v1/articles/{ARTICLE}/comments")


def open_widget(context: BrowserContext, url: str) -> Widget:
    page = context.new_page()
    page.goto(url)
    return Widget(page).ready()


def title(count: int) -> str:
    return f"留言与评论（共有 {count} 条评论）"


def stored(app: Flask, comment_id: int) -> Comment:
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        comment.article  # noqa: B018 - load it before the session goes
        db.session.expunge_all()
        return comment


def approve(app: Flask, comment_id: int) -> None:
    with app.test_request_context():
        moderation.apply(comment_id, Action.APPROVE)


class Checks:
    """Runs several expectations and reports every one that failed, not just the first."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    @property
    def timeout(self) -> int:
        """Milliseconds the next expectation may wait: once one has failed (and waited),
        what the others wait for has had its time."""
        return 200 if self.failures else SETTLED_MS

    def __call__(self, what: str, assertion: Callable[[], object]) -> None:
        try:
            assertion()
        except AssertionError as error:
            self.failures.append(f"- {what}: {str(error).strip().splitlines()[0]}")

    def verify(self, cause: str) -> None:
        if self.failures:
            raise AssertionError("\n".join([*self.failures, cause]))


# --- the frame ------------------------------------------------------------------------------


@pytest.mark.browser
def test_two_line_embed_shows_the_widget_in_a_frame_sized_to_its_content(
    portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    embed = (
        f'<div data-comments data-article="{ARTICLE}" data-title="{TITLE}"></div>\n'
        f'<script src="{portal.service}/embed.js" async></script>\n'
    )
    assert portal_html(portal.service).count(embed) == 1  # the README's two lines, as is
    widget = open_widget(new_context(), portal.article)

    expect(widget.iframe).to_have_count(1)
    src = widget.iframe.get_attribute("src") or ""
    assert src.startswith(f"{portal.service}/embed/{ARTICLE}?"), src
    assert widget.frame.url.startswith(f"{portal.service}/embed/{ARTICLE}?")
    expect(widget.iframe).to_have_attribute("title", "评论")
    expect(widget.ui.locator(".cw-title")).to_have_text(title(0))
    expect(widget.ui.locator(".cw-empty")).to_have_text(EMPTY)

    # embed.js starts the iframe at 420px; widget.js's postMessage sets the content's height.
    before = widget.sized()
    assert before != INITIAL_FRAME_HEIGHT
    scroll_height = widget.frame.evaluate("document.documentElement.scrollHeight")
    assert abs(before - scroll_height) <= HEIGHT_SLACK, (before, scroll_height)

    answer = widget.post(BODY)
    expect(widget.ui.locator(f"#own-{answer['id']}")).to_be_visible()
    after = widget.sized()
    assert after > before + 40, f"the own-pending item did not grow the frame: {before} -> {after}"


@pytest.mark.browser
def test_frame_shrinks_when_its_content_gets_shorter(
    portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    widget = open_widget(new_context(), portal.article)
    short = widget.sized()
    answer = widget.post(BODY)
    own = widget.ui.locator(f"#own-{answer['id']}")
    expect(own).to_be_visible()
    tall = widget.sized()
    assert tall > short

    own.get_by_role("button", name="删除").click()
    expect(own).to_have_count(0)
    expect(widget.ui.locator("#cw-status")).to_have_text(DELETED)
    # The content is shorter again, so the frame must follow it down, not keep a gap.
    widget.sized(timeout=SETTLED_MS / 1000)


@pytest.mark.browser
def test_third_party_cookies_are_blocked_inside_the_frame(
    portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    context = new_context()
    widget = open_widget(context, portal.article)

    in_frame = widget.frame.evaluate(
        """() => {
            document.cookie = "probe=1; SameSite=None; Secure";
            document.cookie = "probe2=1";
            return document.cookie;
        }"""
    )
    assert "probe" not in in_frame, f"the frame kept a cookie: {in_frame!r}"
    assert not [c for c in context.cookies() if c["name"].startswith("probe")]

    # The same origin as a first party keeps it: what blocks it is the frame being third-party.
    top = context.new_page()
    top.goto(f"{portal.service}/embed/{ARTICLE}")
    first_party = top.evaluate("() => { document.cookie = 'probe=1'; return document.cookie; }")
    assert "probe=1" in first_party


# --- posting, review, withdrawal --------------------------------------------------------------


@pytest.mark.browser
def test_posted_comment_waits_for_review_and_only_its_author_sees_it_until_withdrawn(
    app: Flask, portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    author = open_widget(new_context(), portal.article)
    answer = author.post(BODY)
    assert answer["status"] == "pending", answer
    comment_id = answer["id"]

    expect(author.ui.locator("#cw-status")).to_have_text(NOTICE)
    own = author.ui.locator(f"#cw-own > #own-{comment_id}")
    expect(own).to_be_visible()
    expect(own.locator(".cw-badge")).to_have_text(PENDING)
    expect(own.locator(".cw-author")).to_have_text(NICKNAME)
    expect(own.locator(".cw-body")).to_have_text(BODY)
    expect(author.ui.locator("#cw-body")).to_have_value("")
    expect(author.ui.locator(".cw-title")).to_have_text(title(0))

    comment = stored(app, comment_id)
    assert (comment.status, comment.deleted_at) == (Status.PENDING, None)
    assert (comment.author, comment.body) == (NICKNAME, BODY)
    assert comment.article.key == ARTICLE
    assert comment.article.title == TITLE
    assert comment.article.url == portal.article

    # Another reader on the same page sees neither the comment nor the notice.
    reader = open_widget(new_context(), portal.article)
    expect(reader.ui.locator("#cw-own")).to_be_hidden()
    expect(reader.ui.locator("#cw-own > li")).to_have_count(0)
    expect(reader.ui.get_by_text(BODY)).to_have_count(0)
    expect(reader.ui.locator("#cw-status")).to_have_text("")
    expect(reader.ui.locator(".cw-title")).to_have_text(title(0))
    expect(reader.count_on_portal()).to_have_text("0")

    # The author withdraws it while it is pending.
    own.get_by_role("button", name="删除").click()
    expect(own).to_have_count(0)
    expect(author.ui.locator("#cw-own")).to_be_hidden()
    expect(author.ui.locator("#cw-status")).to_have_text(DELETED)
    comment = stored(app, comment_id)
    assert comment.deleted_at is not None
    assert comment.status == Status.PENDING  # soft-deleted, kept for the audit trail
    author.reload()
    expect(author.ui.locator("#cw-own")).to_be_hidden()
    expect(author.ui.get_by_text(BODY)).to_have_count(0)


@pytest.mark.browser
def test_approved_comment_is_shown_to_every_reader_with_the_new_counts(
    app: Flask, portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    author = open_widget(new_context(), portal.article)
    expect(author.count_on_portal()).to_have_text("0")
    expect(author.count_on_portal(OTHER_ARTICLE)).to_have_text("0")
    comment_id = author.post(BODY)["id"]
    expect(author.ui.locator(f"#own-{comment_id}")).to_be_visible()

    approve(app, comment_id)

    reader = open_widget(new_context(), portal.article)
    item = reader.ui.locator(f"#comment-{comment_id}")
    expect(item).to_be_visible()
    expect(item.locator(".cw-author")).to_have_text(NICKNAME)
    expect(item.locator(".cw-body")).to_have_text(BODY)
    expect(reader.ui.locator(".cw-title")).to_have_text(title(1))
    expect(reader.ui.locator("#cw-own")).to_be_hidden()
    expect(reader.count_on_portal()).to_have_text("1")
    expect(reader.count_on_portal(OTHER_ARTICLE)).to_have_text("0")
    reader.reload()
    expect(reader.count_on_portal()).to_have_text("1")
    expect(reader.ui.locator(f"#comment-{comment_id}")).to_be_visible()


@pytest.mark.browser
def test_own_pending_entry_stays_until_approval_then_gives_way_to_the_comment(
    app: Flask, portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    """Where the widget may use its storage (here opened first-party, at its own URL)."""
    page = new_context().new_page()
    page.goto(f"{portal.service}/embed/{ARTICLE}")
    expect(page.locator("#cw-captcha-img")).to_be_visible()
    comment_id = submit_comment(page, page, BODY)["id"]
    own = page.locator(f"#cw-own > #own-{comment_id}")
    expect(own).to_be_visible()

    page.reload()
    expect(page.locator("#cw-captcha-img")).to_be_visible()
    expect(own).to_be_visible()  # remembered in this browser while it waits
    expect(own.locator(".cw-badge")).to_have_text(PENDING)

    approve(app, comment_id)
    page.reload()
    expect(page.locator(f"#comment-{comment_id}")).to_be_visible()
    expect(own).to_have_count(0)
    expect(page.locator("#cw-own")).to_be_hidden()
    expect(page.locator(".cw-title")).to_have_text(title(1))


STORAGE_PROBE = """() => {
    try { localStorage.getItem("probe"); return "available"; }
    catch (error) { return error.name + ": " + error.message; }
}"""


@pytest.mark.browser
def test_own_pending_entry_survives_a_reload_in_the_portal_frame(
    portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    author = open_widget(new_context(), portal.article)
    comment_id = author.post(BODY)["id"]
    own = author.ui.locator(f"#own-{comment_id}")
    expect(own).to_be_visible()
    storage = author.frame.evaluate(STORAGE_PROBE)

    author.reload()
    checks = Checks()
    checks(
        "the author still sees their comment as 审核中 and can withdraw it",
        lambda: expect(own).to_be_visible(timeout=checks.timeout),
    )
    checks.verify(
        f"localStorage in the third-party frame: {storage}. widget.js keeps the owner keys "
        "only there (store() swallows the error), so with third-party cookies blocked they "
        "are lost on every reload."
    )


@pytest.mark.browser
def test_after_approval_a_reload_shows_the_author_their_comment_and_the_new_count(
    app: Flask, portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    """The author's page was loaded before the approval; a reload must show the news."""
    author = open_widget(new_context(), portal.article)
    expect(author.count_on_portal()).to_have_text("0")
    comment_id = author.post(BODY)["id"]
    expect(author.ui.locator(f"#own-{comment_id}")).to_be_visible()
    approve(app, comment_id)

    responses: dict[str, str] = {}
    author.page.on("response", lambda r: record_cache_control(r, responses))
    author.reload()
    expect(author.ui.locator(f"#own-{comment_id}")).to_have_count(0)  # not pending any more...

    checks = Checks()  # ...so it must be in the list now, and counted
    checks(
        "the approved comment is in the author's list",
        lambda: expect(author.ui.locator(f"#comment-{comment_id}")).to_be_visible(
            timeout=checks.timeout
        ),
    )
    checks(
        "the widget header counts it",
        lambda: expect(author.ui.locator(".cw-title")).to_have_text(
            title(1), timeout=checks.timeout
        ),
    )
    checks(
        "the portal's count.js shows the new number",
        lambda: expect(author.count_on_portal()).to_have_text("1", timeout=checks.timeout),
    )
    checks.verify(
        f"Cache-Control of what the reload fetched: {responses}. A response the browser may "
        "reuse for PUBLIC_MAX_AGE seconds comes from its HTTP cache, stale: what failed above. "
        "The comment's 审核中 entry is gone already (its owner key was not kept: see "
        "test_own_pending_entry_survives_a_reload_in_the_portal_frame)."
    )


def record_cache_control(response: Any, into: dict[str, str]) -> None:
    path = response.url.split("?", 1)[0]
    if path.endswith((f"/embed/{ARTICLE}", "/api/v1/counts")):
        into[path.rsplit("/", 1)[-1]] = response.headers.get("cache-control", "")


@pytest.mark.browser
def test_wrong_captcha_keeps_the_text_shows_the_error_and_a_new_captcha(
    app: Flask, portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    widget = open_widget(new_context(), portal.article)
    ui = widget.ui
    token = ui.locator("#cw-captcha-token")
    image = ui.locator("#cw-captcha-img")
    first_token = token.input_value()
    first_image = image.get_attribute("src")

    answer = widget.post(BODY, answer="WRONG")
    assert answer["error"]["code"] == "captcha_invalid", answer

    error = ui.locator(".cw-captcha .cw-error")
    expect(error).to_have_text(WRONG_CAPTCHA)
    captcha_input = ui.locator("#cw-captcha")
    expect(captcha_input).to_have_attribute("aria-invalid", "true")
    expect(captcha_input).to_have_attribute("aria-describedby", error.get_attribute("id") or "?")
    expect(captcha_input).to_have_value("")
    expect(ui.locator("#cw-author")).to_have_value(NICKNAME)
    expect(ui.locator("#cw-body")).to_have_value(BODY)
    expect(token).not_to_have_value(first_token)
    expect(token).not_to_have_value("")
    expect(image).not_to_have_attribute("src", first_image or "")
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0
    expect(ui.locator("#cw-own")).to_be_hidden()
    with app.app_context():
        assert db.session.scalar(select(func.count(Comment.id))) == 0

    # With the new captcha answered, the kept text goes through and the error goes.
    ui.locator("#cw-captcha").press_sequentially(TEST_ANSWER)
    with widget.page.expect_response(is_comment_post) as info:
        ui.locator(".cw-submit").click()
    assert info.value.status == 202
    expect(ui.locator("#cw-status")).to_have_text(NOTICE)
    expect(error).to_have_count(0)
    expect(captcha_input).not_to_have_attribute("aria-invalid", "true")
    expect(ui.locator(f"#own-{info.value.json()['id']} .cw-body")).to_have_text(BODY)


# Messages of the checks widget.js makes before sending, as the service words them.
FIELD_MESSAGES = {
    "zh": {
        "required": "请填写评论内容。",
        "too_long": "评论最多 1000 字（当前 1001 字）。",
    },
    "en": {
        "required": "Please write a comment.",
        "too_long": "The comment can be at most 1000 characters (now 1001).",
    },
}
# 1000 characters once trimmed, as the service counts them (code points): 1999 UTF-16
# units, so a check counting JavaScript's .length would refuse it.
LONGEST_BODY = "\n  " + "👍" * 999 + "好" + "  \n\n"
# Spaces, a tab, newlines and an ideographic space: empty, as the service sees it.
WHITESPACE_ONLY = " \n\t\u3000\n"


def is_captcha_fetch(request: Any) -> bool:
    return request.url.split("?", 1)[0].endswith("/captcha")


@pytest.mark.browser
@pytest.mark.parametrize("lang", list(FIELD_MESSAGES))
def test_empty_or_too_long_comment_is_refused_before_sending_and_the_captcha_is_kept(
    lang: str, app: Flask, portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    """Nothing is sent, so the captcha the reader typed is neither spent nor replaced."""
    widget = open_widget(new_context(), portal.english if lang == "en" else portal.article)
    ui = widget.ui
    posts: list[str] = []
    captcha_fetches: list[str] = []
    widget.page.on("request", lambda r: posts.append(r.url) if is_post_request(r) else None)
    widget.page.on(
        "request", lambda r: captcha_fetches.append(r.url) if is_captcha_fetch(r) else None
    )
    token = ui.locator("#cw-captcha-token").input_value()
    image = ui.locator("#cw-captcha-img").get_attribute("src")
    body = ui.locator("#cw-body")
    captcha_input = ui.locator("#cw-captcha")
    error = ui.locator("#cw-body-js-error")

    ui.locator("#cw-author").press_sequentially(NICKNAME)
    captcha_input.press_sequentially(TEST_ANSWER)
    for text, message in (
        (WHITESPACE_ONLY, FIELD_MESSAGES[lang]["required"]),
        ("好" * 1000 + "👍", FIELD_MESSAGES[lang]["too_long"]),
    ):
        body.fill(text)
        ui.locator(".cw-submit").click()
        expect(error).to_have_text(message)
        expect(error).to_have_count(1)
        expect(body).to_be_focused()
        expect(body).to_have_attribute("aria-invalid", "true")
        expect(body).to_have_attribute("aria-describedby", "cw-body-js-error")
        expect(ui.locator(".cw-submit")).to_be_enabled()
        expect(captcha_input).to_have_value(TEST_ANSWER)
        expect(ui.locator("#cw-captcha-token")).to_have_value(token)
        expect(ui.locator("#cw-captcha-img")).to_have_attribute("src", image or "")
        expect(ui.locator("#cw-author")).to_have_value(NICKNAME)

    # Fixed (1000 characters, emoji counted as one each), the same captcha answer posts.
    body.fill(LONGEST_BODY)
    with widget.page.expect_response(is_comment_post) as info:
        ui.locator(".cw-submit").click()
    assert info.value.status == 202, info.value.json()
    expect(ui.locator("#cw-status")).to_have_text(
        "Comment submitted; it will appear after review." if lang == "en" else NOTICE
    )
    expect(error).to_have_count(0)
    expect(body).not_to_have_attribute("aria-invalid", "true")
    assert len(posts) == 1, f"the refused attempts were sent: {posts}"
    assert len(captcha_fetches) == 1, f"a new captcha only after the post: {captcha_fetches}"
    comment = stored(app, info.value.json()["id"])
    assert comment.body == LONGEST_BODY.strip()


@pytest.mark.browser
def test_field_errors_from_the_service_keep_the_captcha_the_reader_typed(
    app: Flask, portal: Portal, new_context: Callable[..., BrowserContext]
) -> None:
    """What only the service checks (here a bidi override in the text): it refuses the
    fields before it looks at the captcha, so the widget keeps the token and the typed
    answer, and the fixed text goes through with them."""
    widget = open_widget(new_context(), portal.article)
    ui = widget.ui
    captcha_fetches: list[str] = []
    widget.page.on(
        "request", lambda r: captcha_fetches.append(r.url) if is_captcha_fetch(r) else None
    )
    token = ui.locator("#cw-captcha-token").input_value()
    image = ui.locator("#cw-captcha-img").get_attribute("src")
    body = ui.locator("#cw-body")

    refused = widget.post("\u202e" + BODY)
    assert refused["error"]["code"] == "validation_failed", refused
    assert list(refused["error"]["fields"]) == ["body"], refused

    error = ui.locator("#cw-body-js-error")
    expect(error).to_have_text(FORBIDDEN_CHARACTERS)
    expect(body).to_be_focused()
    expect(body).to_have_attribute("aria-invalid", "true")
    expect(ui.locator("#cw-captcha")).to_have_value(TEST_ANSWER)
    expect(ui.locator("#cw-captcha-token")).to_have_value(token)
    expect(ui.locator("#cw-captcha-img")).to_have_attribute("src", image or "")

    body.fill(BODY)
    with widget.page.expect_response(is_comment_post) as info:
        ui.locator(".cw-submit").click()
    assert info.value.status == 202, info.value.json()
    expect(ui.locator("#cw-status")).to_have_text(NOTICE)
    expect(error).to_have_count(0)
    assert len(captcha_fetches) == 1, f"a new captcha only after the post: {captcha_fetches}"
    assert stored(app, info.value.json()["id"]).body == BODY


# --- replies, likes, sorting ------------------------------------------------------------------


@pytest.mark.browser
def test_reply_is_shown_nested_under_its_thread_after_approval(
    app: Flask,
    portal: Portal,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    root = make_comment(author="李四", body="建议把办事指南也放到网上，方便提前准备材料。")
    widget = open_widget(new_context(), portal.article)

    widget.ui.locator(f"#comment-{root} .cw-reply").click()
    expect(widget.ui.locator("#cw-replying")).to_be_visible()
    expect(widget.ui.locator("#cw-replying-text")).to_have_text("回复 @李四：")
    expect(widget.ui.locator("#cw-body")).to_be_focused()
    reply_body = "同意！网上已经有办事指南了，在“办事服务”栏目里😊"
    reply_id = widget.post(reply_body, nickname="王五")["id"]
    expect(widget.ui.locator("#cw-status")).to_have_text(NOTICE)
    expect(widget.ui.locator("#cw-replying")).to_be_hidden()

    reply = stored(app, reply_id)
    assert (reply.parent_id, reply.root_id, reply.status) == (root, root, Status.PENDING)
    approve(app, reply_id)

    reader = open_widget(new_context(), portal.article)
    nested = reader.ui.locator(f"#comment-{root} > .cw-replies > #comment-{reply_id}")
    expect(nested).to_be_visible()
    expect(nested.locator(".cw-quote")).to_have_text(re.compile(r"^回复 @李四："))
    expect(nested.locator(".cw-author")).to_have_text("王五")
    expect(nested.locator(".cw-body")).to_have_text(reply_body)
    expect(reader.ui.locator(".cw-list:not(#cw-own) > .cw-item")).to_have_count(1)
    expect(reader.ui.locator(".cw-title")).to_have_text(title(2))


def two_comments(make_comment: Callable[..., int]) -> tuple[int, int]:
    """An older and a newer approved comment (newest first shows the newer on top)."""
    older = make_comment(author="老陈", body="窗口工作人员态度很好，耐心解答问题，点赞。")
    newer = make_comment(author="小刘同学", body="希望周末也能开放几个综合窗口。")
    return older, newer


def like_button(widget: Widget, comment_id: int) -> Locator:
    return widget.ui.locator(f"#comment-{comment_id} form.cw-like button")


def like_count(widget: Widget, comment_id: int) -> Locator:
    return widget.ui.locator(f"#comment-{comment_id} .cw-like-count")


@pytest.mark.browser
def test_like_counts_once_per_reader_and_most_liked_sorts_first(
    app: Flask,
    portal: Portal,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    older, newer = two_comments(make_comment)
    context = new_context()
    widget = open_widget(context, portal.article)
    threads = widget.ui.locator(".cw-list:not(#cw-own) > .cw-item")
    expect(threads).to_have_count(2)
    expect(threads.nth(0)).to_have_id(f"comment-{newer}")
    expect(widget.ui.get_by_role("link", name="最新")).to_have_attribute("aria-current", "true")

    button = like_button(widget, older)
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(like_count(widget, older)).to_have_text("0")
    with widget.page.expect_response(lambda r: "/like" in r.url) as liked:
        button.click()
    assert liked.value.json() == {"id": older, "likes": 1, "liked": True}
    expect(like_count(widget, older)).to_have_text("1")
    expect(button).to_have_attribute("aria-pressed", "true")
    # The service's reader cookie is refused in the third-party frame: it remembers the IP.
    assert [c["name"] for c in context.cookies()] == []

    # Another reader from the same IP, without cookies: the like is not counted twice.
    other = open_widget(new_context(), portal.article)
    expect(like_count(other, older)).to_have_text("1")
    with other.page.expect_response(lambda r: "/like" in r.url) as again:
        like_button(other, older).click()
    assert again.value.json() == {"id": older, "likes": 1, "liked": False}
    expect(like_count(other, older)).to_have_text("1")
    with app.app_context():
        assert db.session.get(Comment, older).likes == 1  # type: ignore[union-attr]
        assert db.session.scalar(select(func.count(Like.id))) == 1

    # 最热: the most liked first.
    widget.ui.get_by_role("link", name="最热").click()
    expect(widget.ui.get_by_role("link", name="最热")).to_have_attribute("aria-current", "true")
    expect(threads.nth(0)).to_have_id(f"comment-{older}")
    expect(threads.nth(1)).to_have_id(f"comment-{newer}")
    expect(like_count(widget, older)).to_have_text("1")
    widget.sized()


@pytest.mark.browser
def test_like_is_still_shown_after_a_reload(
    app: Flask,
    portal: Portal,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    older, _ = two_comments(make_comment)
    widget = open_widget(new_context(), portal.article)
    like_button(widget, older).click()
    expect(like_count(widget, older)).to_have_text("1")

    responses: dict[str, str] = {}
    widget.page.on("response", lambda r: record_cache_control(r, responses))
    widget.reload()
    checks = Checks()
    checks(
        "the count still shows 1",
        lambda: expect(like_count(widget, older)).to_have_text("1", timeout=checks.timeout),
    )
    # Clicking again does not make 2: remembered in this browser (then nothing is sent)
    # or, where the frame may keep nothing, by the service from the reader's IP.
    button = like_button(widget, older)
    if button.get_attribute("aria-pressed") == "true":
        button.click()
    else:
        with widget.page.expect_response(lambda r: "/like" in r.url) as again:
            button.click()
        checks(
            "the service does not count it again",
            lambda: _equal(again.value.json()["liked"], False),
        )
    checks(
        "clicking again does not make 2",
        lambda: expect(like_count(widget, older)).to_have_text("1", timeout=checks.timeout),
    )
    with app.app_context():
        likes = db.session.get(Comment, older).likes  # type: ignore[union-attr]
    checks("the database counts 1", lambda: _equal(likes, 1))
    checks.verify(
        "The reloaded widget page comes from the browser's HTTP cache "
        f"(Cache-Control: {responses}), so it shows the count from before the like."
    )


def _equal(actual: object, expected: object) -> None:
    assert actual == expected, f"{actual!r} != {expected!r}"


@pytest.mark.browser
def test_like_button_name_tells_the_new_count(
    portal: Portal, new_context: Callable[..., BrowserContext], make_comment: Callable[..., int]
) -> None:
    older, _ = two_comments(make_comment)
    widget = open_widget(new_context(), portal.article)
    button = like_button(widget, older)
    expect(button).to_have_accessible_name(re.compile(r"^赞\D*0\D*$"))
    button.click()
    expect(like_count(widget, older)).to_have_text("1")
    # A screen reader hears the button's name (its aria-label), not the visible count.
    expect(button).to_have_accessible_name(re.compile(r"^赞\D*1\D*$"), timeout=SETTLED_MS)


# --- likes and reports come from the frame only --------------------------------------------------

REPORTED = "感谢举报，审核员会尽快处理。"
REFUSED = "此请求并非来自评论区，未被受理。"


def reports_and_likes(app: Flask, comment_id: int) -> tuple[int, int]:
    with app.app_context():
        reports = db.session.scalar(
            select(func.count(Report.id)).where(Report.comment_id == comment_id)
        )
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        return reports, comment.likes


def is_post_to(path: str) -> Callable[[Any], bool]:
    return lambda r: r.request.method == "POST" and urlsplit(r.url).path == path


@pytest.mark.browser
def test_report_is_sent_from_inside_the_portals_frame(
    app: Flask,
    portal: Portal,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    older, _ = two_comments(make_comment)
    widget = open_widget(new_context(), portal.article)

    widget.ui.locator(f"#comment-{older} a.cw-report").click()
    send = widget.ui.get_by_role("button", name="提交举报")
    expect(send).to_be_visible()
    with widget.page.expect_response(is_post_to(f"/embed/{ARTICLE}/report/{older}")) as sent:
        send.click()

    assert sent.value.status == 303
    expect(widget.ui.locator("#cw-status")).to_have_text(REPORTED)
    assert reports_and_likes(app, older) == (1, 0)


@pytest.mark.browser
def test_the_like_form_without_javascript_counts_from_inside_the_portals_frame(
    app: Flask,
    portal: Portal,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    older, _ = two_comments(make_comment)
    widget = open_widget(new_context(), portal.article)

    # form.submit() sends the plain form, as a browser without JavaScript would.
    with widget.page.expect_response(is_post_to(f"/embed/{ARTICLE}/like/{older}")) as sent:
        widget.frame.evaluate(
            "id => document.querySelector(`#comment-${id} form.cw-like`).submit()", older
        )

    assert sent.value.status == 303
    expect(like_count(widget, older)).to_have_text("1")
    assert reports_and_likes(app, older) == (0, 1)


def attacker_html(service: str, comment_id: int) -> str:
    """A page on the portal's site that tries to like and report through the widget."""
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>抢红包</title></head>
<body>
<form id="like" method="post" action="{service}/embed/{ARTICLE}/like/{comment_id}">
  <button>点我抢红包</button></form>
<form id="report" method="post" action="{service}/embed/{ARTICLE}/report/{comment_id}">
  <input type="hidden" name="reason" value="spam"><button>点我领奖</button></form>
</body></html>
"""


@pytest.mark.browser
@pytest.mark.parametrize("form", ["like", "report"])
def test_another_page_cannot_make_its_visitors_like_or_report(
    app: Flask,
    portal_site: StaticSite,
    live_server: str,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
    form: str,
) -> None:
    older, _ = two_comments(make_comment)
    portal_site.pages = {"/prize.html": lambda: attacker_html(live_server, older)}
    page = new_context().new_page()
    page.goto(portal_site.url("/prize.html"))

    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        page.locator(f"#{form} button").click()

    assert sent.value.status == 403
    expect(page.locator("h1")).to_have_text(REFUSED)
    assert reports_and_likes(app, older) == (0, 0)


@pytest.mark.browser
def test_another_page_cannot_like_through_the_api_without_a_preflight(
    app: Flask,
    portal_site: StaticSite,
    live_server: str,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    older, _ = two_comments(make_comment)
    portal_site.pages = {"/prize.html": lambda: "<!doctype html><title>抢红包</title>"}
    page = new_context().new_page()
    page.goto(portal_site.url("/prize.html"))
    like = f"{live_server}/api/v1/articles/{ARTICLE}/comments/{older}/like"

    # What a page may send without asking the service first: a "simple" request.
    with page.expect_response(lambda r: r.url == like) as sent:
        page.evaluate(
            "url => fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include'})", like
        )

    assert sent.value.status == 415
    assert reports_and_likes(app, older) == (0, 0)


# --- counts on a listing page ----------------------------------------------------------------

PLACEHOLDER = "–"
# Keys the service counts, with how many approved comments each gets below.
VALID_KEYS = {ARTICLE: 2, OTHER_ARTICLE: 0, "2026.11-news_a": 0, "k" * 128: 1}
INVALID_KEYS = ["a b", "news/67584", "..", ".", "k" * 129, "政务"]


def listing_html(service: str, keys: list[str]) -> str:
    """A portal's listing page: one line per key, each with count.js's placeholder."""
    items = "\n".join(
        f'<li id="item-{i}">第 {i + 1} 条 评论 '
        f'<span data-comment-count="{html.escape(key)}">{PLACEHOLDER}</span></li>'
        for i, key in enumerate(keys)
    )
    return f"""<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>政策解读 - 示例门户</title></head>
<body>
<h1>政策解读</h1>
<ul>
{items}
</ul>
<script src="{service}/count.js" async></script>
</body>
</html>
"""


@dataclass
class Listing:
    page: Page
    keys: list[str]
    warnings: list[str]
    errors: list[str]
    count_requests: list[str]

    def count(self, key: str) -> Locator:
        return self.page.locator(f"#item-{self.keys.index(key)} [data-comment-count]")


def open_listing(
    portal_site: StaticSite, live_server: str, context: BrowserContext, keys: list[str]
) -> Listing:
    portal_site.pages = {"/list.html": lambda: listing_html(live_server, keys)}
    page = context.new_page()
    listing = Listing(page, keys, [], [], [])
    page.on("console", lambda m: listing.warnings.append(m.text) if m.type == "warning" else None)
    page.on("pageerror", lambda e: listing.errors.append(str(e)))
    page.on(
        "request",
        lambda r: listing.count_requests.append(r.url) if "/api/v1/counts" in r.url else None,
    )
    # Wait for count.js's first answer (the page has one key at least).
    with page.expect_response(lambda r: "/api/v1/counts" in r.url):
        page.goto(portal_site.url("/list.html"))
    return listing


@pytest.mark.browser
def test_count_js_fills_every_valid_key_and_leaves_invalid_ones_with_a_warning(
    portal_site: StaticSite,
    live_server: str,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    for key, count in VALID_KEYS.items():
        for _ in range(count):
            make_comment(article=key)
    keys = [ARTICLE, *INVALID_KEYS[:3], OTHER_ARTICLE, *INVALID_KEYS[3:], *VALID_KEYS]
    listing = open_listing(portal_site, live_server, new_context(), keys)

    for key, count in VALID_KEYS.items():
        expect(listing.count(key)).to_have_text(str(count))
    # The same key twice on a page: both filled.
    expect(listing.page.locator(f'[data-comment-count="{ARTICLE}"]')).to_have_text(["2", "2"])
    for key in INVALID_KEYS:
        expect(listing.count(key)).to_have_text(PLACEHOLDER)

    warnings = [w for w in listing.warnings if "invalid article keys" in w]
    assert len(warnings) == 1, listing.warnings
    assert warnings[0].startswith("comments: invalid article keys ignored: "), warnings[0]
    for key in INVALID_KEYS:
        assert json.dumps(key, ensure_ascii=False) in warnings[0], (key, warnings[0])
    for key in VALID_KEYS:
        assert json.dumps(key) not in warnings[0], (key, warnings[0])
    assert listing.errors == []
    # Only valid keys were asked for, each once, in one request.
    assert len(listing.count_requests) == 1, listing.count_requests
    asked = parse_qs(urlsplit(listing.count_requests[0]).query)["article"]
    assert sorted(asked) == sorted(VALID_KEYS), asked

    # Asked again (a portal that adds items), it does not warn about the same keys again.
    listing.page.evaluate("CommentCounts.refresh()")
    assert len([w for w in listing.warnings if "invalid article keys" in w]) == 1


@pytest.mark.browser
def test_count_js_leaves_the_counts_alone_when_the_service_refuses_the_batch(
    portal_site: StaticSite, live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    """E.g. an older service that refuses a key count.js accepts: no error, no numbers."""
    context = new_context()
    context.route(
        "**/api/v1/counts*",
        lambda route: route.fulfill(
            status=400, json={"error": {"code": "invalid_article", "message": "Invalid"}}
        ),
    )
    keys = [ARTICLE, OTHER_ARTICLE]
    listing = open_listing(portal_site, live_server, context, keys)
    assert len(listing.count_requests) == 1, listing.count_requests
    assert listing.page.evaluate("CommentCounts.refresh().then(() => 'done')") == "done"
    for key in keys:
        expect(listing.count(key)).to_have_text(PLACEHOLDER)
    assert listing.errors == []
    assert any("HTTP 400" in w for w in listing.warnings), listing.warnings


# --- layout and screenshots, accessibility --------------------------------------------------------


def seed_thread(make_comment: Callable[..., int]) -> None:
    """A few comments, one reply and text that tempts overflow (a long link, a long word)."""
    first = make_comment(
        author="城西居民",
        body="上个月去政务服务中心办营业执照，只跑了一次就办完了，效率确实提高了。"
        "详情见 https://www.portal.example/zcjh/zhengwu/67584.html?from=comment&utm_source=widget"
        "_and_a_very_long_query_string_without_any_spaces_at_all 。",
    )
    make_comment(
        author="Supercalifragilisticexpialidocious_reader_2026",
        body="家里老人不会用智能手机，建议线下窗口继续保留。AVeryLongWordWithoutSpaces" * 2,
    )
    make_comment(author="网友", body="同意楼上，窗口不能取消。", parent_id=first)


FRAME_LAYOUT = """() => {
    const width = document.documentElement.clientWidth;
    const outside = [], clipped = [];
    for (const el of document.body.querySelectorAll("*")) {
        const box = el.getBoundingClientRect();
        if (!box.width || !box.height) continue;
        const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
            + (el.className && typeof el.className === "string" ? "." + el.className : "");
        if (box.left < -0.5 || box.right > width + 0.5) outside.push(name);
        const style = getComputedStyle(el);
        const hides = style.overflowX !== "visible";
        if (hides && el.scrollWidth > el.clientWidth + 1) clipped.push(name);
    }
    const submit = document.querySelector(".cw-submit").getBoundingClientRect();
    return {
        scrollWidth: document.documentElement.scrollWidth, width,
        scrollHeight: document.documentElement.scrollHeight, height: innerHeight,
        outside, clipped,
        submit: {left: submit.left, right: submit.right, top: submit.top, bottom: submit.bottom},
        submitText: [document.querySelector(".cw-submit").scrollWidth,
                     document.querySelector(".cw-submit").clientWidth],
    };
}"""


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", list(DEVICES))
def test_portal_and_widget_fit_the_screen_without_sideways_scroll_or_clipping(
    device: str,
    scheme: str,
    portal: Portal,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    """At 360 px and 1280 px, light and dark (the browser's and data-theme's); the
    screenshot of each lands in test-artifacts/widget-DEVICE-SCHEME.png."""
    viewport = DEVICES[device]
    seed_thread(make_comment)
    context = new_context(viewport=viewport, color_scheme=scheme)
    widget = open_widget(context, portal.dark if scheme == "dark" else portal.article)
    expect(widget.count_on_portal()).to_have_text("3")
    shot = artifact(f"widget-{device}-{scheme}.png")
    full_page_screenshot(widget.page, shot)
    assert shot.stat().st_size > 10_000, shot
    background = widget.frame.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(13, 17, 23)" if scheme == "dark" else "rgb(255, 255, 255)")

    page_width = widget.page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert page_width[0] <= page_width[1], f"the portal page scrolls sideways: {page_width}"
    layout = widget.frame.evaluate(FRAME_LAYOUT)
    assert layout["scrollWidth"] <= layout["width"], f"the widget scrolls sideways: {layout}"
    assert layout["outside"] == [], f"elements stick out of the widget: {layout['outside']}"
    assert layout["clipped"] == [], f"elements clip their content: {layout['clipped']}"
    # Everything is inside the iframe (it does not scroll): the submit button too, whole.
    assert layout["scrollHeight"] <= layout["height"] + HEIGHT_SLACK, layout
    submit = layout["submit"]
    assert submit["left"] >= 0 and submit["right"] <= layout["width"], submit
    assert submit["top"] >= 0 and submit["bottom"] <= layout["height"], submit
    assert layout["submitText"][0] <= layout["submitText"][1], "the button's text is cut"
    expect(widget.ui.locator(".cw-submit")).to_be_visible()
    expect(widget.ui.locator(".cw-submit")).to_have_text("发表评论")
    frame_box = widget.iframe.bounding_box()
    assert frame_box and frame_box["width"] <= viewport["width"]


DEMO_LAYOUT = """() => {
    const width = innerWidth;
    const box = (el) => {
        const r = el.getBoundingClientRect();
        return {left: r.left, right: r.right, scrollWidth: el.scrollWidth,
                clientWidth: el.clientWidth};
    };
    const outside = [];
    for (const el of document.body.querySelectorAll("*")) {
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height) continue;
        if (r.left < -0.5 || r.right > width + 0.5) {
            outside.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
        }
    }
    return {scrollWidth: document.documentElement.scrollWidth, width, outside,
            h1: box(document.querySelector("h1")), code: box(document.querySelector("pre"))};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [360, 390])
def test_demo_page_fits_a_phone_without_sideways_scroll(
    width: int, live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    """/demo is the first page a new user opens; its screenshot lands in
    test-artifacts/demo-WIDTH.png."""
    context = new_context(viewport={"width": width, "height": 780})
    page = context.new_page()
    page.goto(f"{live_server}/demo")
    widget = Widget(page).ready()
    expect(widget.count_on_portal()).to_have_text("0")
    full_page_screenshot(page, artifact(f"demo-{width}.png"))

    layout = page.evaluate(DEMO_LAYOUT)
    assert layout["scrollWidth"] <= layout["width"], f"the page scrolls sideways: {layout}"
    h1, code = layout["h1"], layout["code"]
    assert h1["left"] >= 0 and h1["right"] <= width, f"the headline is cut: {h1}"
    assert h1["scrollWidth"] <= h1["clientWidth"], f"the headline overflows its box: {h1}"
    assert code["left"] >= 0 and code["right"] <= width, f"the code sample sticks out: {code}"
    assert layout["outside"] == [], f"elements stick out of the screen: {layout['outside']}"
    # The code keeps its lines and scrolls inside itself, reachable by keyboard too.
    sample = page.locator("pre.snippet")
    expect(sample).to_contain_text("embed.js")
    expect(sample).to_have_attribute("tabindex", "0")
    frame_box = widget.iframe.bounding_box()
    assert frame_box and frame_box["x"] >= 0 and frame_box["x"] + frame_box["width"] <= width


AXE_RUNS = {
    "light zh": ("article", "light", "zh"),
    "dark zh": ("dark", "dark", "zh"),
    "light en": ("english", "light", "en"),
}


@pytest.mark.browser
@pytest.mark.parametrize("run", list(AXE_RUNS), ids=lambda r: r.replace(" ", "-"))
def test_widget_has_no_serious_accessibility_violations(
    run: str,
    portal: Portal,
    new_context: Callable[..., BrowserContext],
    make_comment: Callable[..., int],
) -> None:
    require_axe()
    page_name, scheme, lang = AXE_RUNS[run]
    seed_thread(make_comment)
    # bypass_csp: the widget's CSP (script-src 'self') would refuse the injected axe.
    context = new_context(bypass_csp=True, color_scheme=scheme)
    widget = open_widget(context, getattr(portal, page_name))
    widget.post("我也来说两句：希望办事指南再详细一些。")  # an own comment awaiting review
    expect(widget.ui.locator("#cw-own > li")).to_have_count(1)
    if scheme == "dark":
        expect(widget.ui.locator("html")).to_have_attribute("data-theme", "dark")
    expect(widget.ui.locator("html")).to_have_attribute("lang", "en" if lang == "en" else "zh-CN")

    summary = axe_summary(run_axe(widget.frame))
    name = f"axe-{scheme}-{lang}.json"
    artifact(name).write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    severe = [v for v in summary["violations"] if v["impact"] in SEVERE]
    milder = [v for v in summary["violations"] if v["impact"] not in SEVERE]
    print(
        f"\nAXE {run}: {len(severe)} serious/critical, {len(milder)} minor/moderate: "
        f"{[v['id'] for v in milder]} ({summary['passes']} rules pass; test-artifacts/{name})"
    )
    assert summary["passes"] > 0
    assert not severe, json.dumps(severe, ensure_ascii=False, indent=2)


# --- without JavaScript -------------------------------------------------------------------------


@pytest.mark.browser
def test_without_javascript_the_widget_page_shows_a_captcha_on_request_and_posts(
    app: Flask, live_server: str, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"{live_server}/embed/{ARTICLE}")
    image = page.locator("#cw-captcha-img")
    expect(image).to_be_hidden()
    show = page.get_by_role("link", name="显示验证码")
    expect(show).to_be_visible()

    with page.expect_response(lambda r: "/captcha/" in r.url) as captcha_image:
        show.click()
    assert captcha_image.value.status == 200
    assert captcha_image.value.headers["content-type"] == "image/png"
    expect(image).to_be_visible()
    expect(page.locator("#cw-captcha-token")).not_to_have_value("")

    page.locator("#cw-author").fill(NICKNAME)
    page.locator("#cw-body").fill(BODY)
    page.locator("#cw-captcha").fill(TEST_ANSWER)
    with page.expect_navigation():
        page.locator(".cw-submit").click()
    assert "posted=1" in page.url and page.url.endswith("#comment-form"), page.url
    expect(page.locator("#cw-status")).to_have_text(NOTICE)
    expect(page.get_by_text(BODY)).to_have_count(0)
    with app.app_context():
        comment = db.session.execute(select(Comment)).scalar_one()
        assert (comment.author, comment.body, comment.status) == (NICKNAME, BODY, Status.PENDING)


# --- download sizes (no browser) -----------------------------------------------------------------


def load_measure_script() -> ModuleType:
    if "measure_sizes" in sys.modules:
        return sys.modules["measure_sizes"]
    spec = importlib.util.spec_from_file_location("measure_sizes", MEASURE_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["measure_sizes"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_embed_count_and_widget_sizes_stay_within_budget() -> None:
    measure_sizes = load_measure_script()
    report = measure_sizes.measure()
    print("\n" + report.table())
    assert report.failures() == []
    for name in ("embed.js", "count.js"):
        row = report.row(name)
        assert 0 < row.brotli <= 4096 and 0 < row.gzip <= 4096, row
    total = report.widget_total
    assert 0 < total.gzip <= 30 * 1024 and 0 < total.brotli <= 30 * 1024, total
    assert report.row("widget page").raw > 10_000  # the 20 comments are really on it
