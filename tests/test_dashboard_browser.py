"""The moderator dashboard in a real browser: keyboard-only moderation, and plain forms."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from browser import Keyboard, artifact, login
from flask import Flask
from playwright.sync_api import BrowserContext, Page, Response, expect
from sqlalchemy import func, select

from service import auth, moderation
from service.extensions import db
from service.models import AuditEntry, Comment, Status
from service.moderation import Action

pytest_plugins = ["browser"]

pytestmark = pytest.mark.browser

USERNAME = "shenhe01"
PASSWORD = "zhengque-mima-2024"
ACTIONS = {"a": "approve", "r": "reject", "s": "spam"}
ARTIFACT_NAMES = ("keyboard-clear.txt", "keyboard-clear-before.png", "keyboard-clear-after.png")
ACTION_STATUS = {"approve": Status.APPROVED, "reject": Status.REJECTED, "spam": Status.SPAM}
# A second moderator, deciding in their own browser.
OTHER_USERNAME = "shenhe02"
OTHER_PASSWORD = "lingyige-mima-2024"
# Every label of the chart with its box in user units, and the svg's viewBox.
CHART_BOXES = """() => {
  const svg = document.querySelector("svg.chart");
  const box = svg.viewBox.baseVal;
  const ticks = Array.from(svg.querySelectorAll("text.tick"), (text) => {
    const b = text.getBBox();
    return {text: text.textContent, x: b.x, y: b.y, width: b.width, height: b.height};
  });
  return {view: {x: box.x, y: box.y, width: box.width, height: box.height}, ticks};
}"""

BODIES = [
    "这篇文章写得很好，政策解读非常清楚。",
    "希望相关部门尽快落实，老百姓等着呢。",
    "加微信领取免费礼品，名额有限！",
    "请问这个政策什么时候开始实施？",
    "支持！办事效率确实提高了不少。",
    "我们小区的问题反映了很久都没人管。",
    "点击链接看更多精彩内容，保证不后悔。",
    "建议增加线上办理的渠道，方便上班族。",
    "窗口工作人员态度很好，点赞。",
    "标题党，内容和标题完全不符。",
    "什么时候能把公交线路也优化一下？",
    "这种事情早就该管了，希望说到做到。",
    "低价代办各类证件，联系电话见主页。",
    "文章里的数据来源能否公开一下？",
    "家里老人不会用手机，线下窗口别取消。",
    "说得好听，执行起来又是另一回事。",
    "同城交友，寂寞的来，私信我。",
    "感谢记者的深入报道，辛苦了。",
    "希望多出一些这样接地气的好政策。",
    "评论区怎么这么多广告，管理员管管吧。",
]
IPS = [
    "203.0.113.7",
    "198.51.100.23",
    "192.0.2.45",
    "203.0.113.88",
    "2001:db8::1f",
    "198.51.100.161",
    "192.0.2.200",
]

# Clearing the queue with the keyboard: a/r/s act on the current comment, j/k move,
# x selects the current one; with a selection, a/r/s act on all of it at once.
# The numbers are the comments' places in the queue (oldest first).
CLEAR_KEYS = [
    "a",  # 1 approve
    "r",  # 2 reject
    "s",  # 3 spam
    "j",
    "a",  # 5 approve
    "k",
    "r",  # 4 reject
    "x",
    "j",
    "x",
    "j",
    "x",
    "a",  # 6, 7, 8 approve together
    "a",  # 9 approve
    "s",  # 10 spam
    "a",  # 11 approve
    "r",  # 12 reject
    "j",
    "j",
    "s",  # 15 spam
    "k",
    "a",  # 14 approve
    "r",  # 13 reject
    "a",  # 16 approve
    "s",  # 17 spam
    "a",  # 18 approve
    "j",
    "j",
    "a",  # 20 approve
    "r",  # 19 reject
]


@dataclass
class QueueModel:
    """What the queue should look like after each key, following dashboard.js's contract:
    the first comment starts current; j/k move and stop at the ends; after an action the
    comment below the removed current one becomes current (the one above at the end)."""

    ids: list[int]
    current: int = 0
    selected: list[int] = field(default_factory=list)
    outcome: dict[int, str] = field(default_factory=dict)

    def press(self, key: str) -> list[int]:
        """Apply a key; returns the comments it acts on (removed from the queue)."""
        if key in ("j", "k"):
            step = 1 if key == "j" else -1
            self.current = min(len(self.ids) - 1, max(0, self.current + step))
            return []
        if key == "x":
            self.selected.append(self.ids[self.current])
            return []
        targets = self.selected or [self.ids[self.current]]
        self.selected = []
        current_id = self.ids[self.current]
        for comment_id in targets:
            self.outcome[comment_id] = ACTIONS[key]
        if current_id in targets:
            position = self.current
            after = [i for i in self.ids[position + 1 :] if i not in targets]
            before = [i for i in self.ids[:position] if i not in targets]
            next_id = after[0] if after else (before[-1] if before else None)
        else:
            next_id = current_id
        self.ids = [i for i in self.ids if i not in targets]
        self.current = self.ids.index(next_id) if next_id is not None else 0
        return targets

    @property
    def current_id(self) -> int | None:
        return self.ids[self.current] if self.ids else None


def add_moderator(app: Flask) -> int:
    with app.app_context():
        return auth.add_moderator(USERNAME, PASSWORD).id


def pending_comments(make_comment: Callable[..., int], count: int) -> list[int]:
    return [
        make_comment(
            article=f"6758{i % 3}",
            author=f"网友{i + 1:02d}",
            body=BODIES[i % len(BODIES)],
            status=Status.PENDING,
            remote_addr=IPS[i % len(IPS)],
        )
        for i in range(count)
    ]


def record_http_error(response: Response, errors: list[str]) -> None:
    if response.status >= 400:
        errors.append(f"{response.request.method} {response.url} -> {response.status}")


def statuses(app: Flask) -> dict[int, Status]:
    with app.app_context():
        return {i: s for i, s in db.session.execute(select(Comment.id, Comment.status))}


def test_moderator_clears_twenty_pending_comments_with_the_keyboard_only(
    app: Flask, page: Page, make_comment: Callable[..., int]
) -> None:
    for name in ARTIFACT_NAMES:  # only this run's results, even if it fails half-way
        artifact(name).unlink(missing_ok=True)
    moderator_id = add_moderator(app)
    ids = pending_comments(make_comment, 20)

    login_presses = login(page, USERNAME, PASSWORD)
    assert login_presses == len(USERNAME) + len(PASSWORD) + 2
    page.goto("/mod/queue")
    items = page.locator("#items > .item")
    current = page.locator("#items > .item.current")
    pending_count = page.locator('[data-count="pending"]')
    expect(items).to_have_count(20)
    expect(pending_count).to_have_text("20")
    expect(current).to_have_attribute("data-id", str(ids[0]))
    expect(page.locator("#cleared")).to_be_hidden()
    page.screenshot(path=artifact(ARTIFACT_NAMES[1]), full_page=True)

    # ? shows the shortcuts, Escape hides them again and gives the focus back.
    help_dialog = page.get_by_role("dialog")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("?")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("j / k")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    expect(current).to_be_focused()

    http_errors: list[str] = []
    page.on("response", lambda r: record_http_error(r, http_errors))
    keyboard = Keyboard(page)
    model = QueueModel(list(ids))
    started = time.perf_counter()
    for number, key in enumerate(CLEAR_KEYS, 1):
        keyboard.press(key)
        acted_on = model.press(key)
        try:
            # Each action is done when its comments leave the page and the counts follow.
            for comment_id in acted_on:
                expect(page.locator(f"#c-{comment_id}")).to_have_count(0)
            expect(items).to_have_count(len(model.ids))
            if acted_on:
                expect(pending_count).to_have_text(str(len(model.ids)))
            if key == "x":
                expect(current.locator(".select")).to_be_checked()
            if model.current_id is not None:
                expect(current).to_have_attribute("data-id", str(model.current_id))
        except AssertionError as error:
            toast = page.locator("#toast")
            shown = toast.inner_text() if toast.count() else None
            raise AssertionError(
                f"key {number} {key!r} (on comments {acted_on}): {error}\n"
                f"failed requests: {http_errors}\ntoast: {shown!r}"
            ) from error
    expect(page.locator("#cleared")).to_be_visible()
    seconds = time.perf_counter() - started

    line = f"KEYBOARD CLEAR: {len(ids)} comments, {keyboard.presses} keypresses, {seconds:.2f} s"
    print(f"\n{line} (+ {login_presses} to sign in)")
    artifact(ARTIFACT_NAMES[0]).write_text(line + "\n", encoding="utf-8")
    page.screenshot(path=artifact(ARTIFACT_NAMES[2]), full_page=True)

    assert keyboard.presses == len(CLEAR_KEYS)
    expect(items).to_have_count(0)
    expect(page.locator(".item")).to_have_count(0)
    expect(pending_count).to_have_text("0")

    expected = Counter(model.outcome.values())
    assert expected == {"approve": 11, "reject": 5, "spam": 4}
    assert statuses(app) == {i: ACTION_STATUS[model.outcome[i]] for i in ids}
    with app.app_context():
        decisions = db.session.execute(
            select(AuditEntry.action, func.count())
            .where(
                AuditEntry.moderator_id == moderator_id,
                AuditEntry.action.in_(ACTION_STATUS),
                AuditEntry.comment_id.in_(ids),
            )
            .group_by(AuditEntry.action)
        )
        assert {action: n for action, n in decisions} == expected
        assert sum(expected.values()) == 20


def test_plain_forms_work_without_javascript(
    app: Flask, new_context: Callable[..., BrowserContext], make_comment: Callable[..., int]
) -> None:
    add_moderator(app)
    first, second = pending_comments(make_comment, 2)
    page = new_context(java_script_enabled=False).new_page()

    login(page, USERNAME, PASSWORD)
    page.goto("/mod/queue")
    expect(page.locator("#items > .item")).to_have_count(2)
    expect(page.locator('[data-count="pending"]')).to_have_text("2")

    with page.expect_navigation():
        page.locator(f"#c-{first} button[data-action='approve']").click()

    assert page.url.endswith("/mod/queue") or page.url.endswith("/mod/queue?")
    expect(page.locator(f"#c-{first}")).to_have_count(0)
    expect(page.locator(f"#c-{second}")).to_have_count(1)
    expect(page.locator('[data-count="pending"]')).to_have_text("1")
    expect(page.locator('[data-count="approved"]')).to_have_text("1")
    expect(page.locator(".flash-success")).to_have_text(f"评论 #{first}：已通过。")
    assert statuses(app) == {first: Status.APPROVED, second: Status.PENDING}


def signed_in_page(app: Flask, page: Page, path: str = "/mod/queue") -> Page:
    add_moderator(app)
    login(page, USERNAME, PASSWORD)
    page.goto(path)
    return page


def test_queue_heading_follows_a_keyboard_action(
    app: Flask, page: Page, make_comment: Callable[..., int]
) -> None:
    first, second = pending_comments(make_comment, 2)
    signed_in_page(app, page)
    expect(page.locator("h1")).to_have_text("待审核 (2)")
    expect(page.locator("#items > .item.current")).to_have_attribute("data-id", str(first))

    page.keyboard.press("a")

    expect(page.locator(f"#c-{first}")).to_have_count(0)
    expect(page.locator("h1")).to_have_text("待审核 (1)")
    expect(page.locator('[data-count="pending"]')).to_have_text("1")
    expect(page.locator('[data-count="approved"]')).to_have_text("1")
    assert statuses(app) == {first: Status.APPROVED, second: Status.PENDING}


def test_filtered_queue_heading_counts_down_the_filtered_total(
    app: Flask, page: Page, make_comment: Callable[..., int]
) -> None:
    # Articles 67580, 67581, 67582, 67580: the filter shows the first and the last.
    ids = pending_comments(make_comment, 4)
    signed_in_page(app, page, "/mod/queue?article=67580")
    expect(page.locator("#items > .item")).to_have_count(2)
    expect(page.locator("h1")).to_have_text("待审核 (2)")

    page.keyboard.press("s")

    expect(page.locator(f"#c-{ids[0]}")).to_have_count(0)
    expect(page.locator("h1")).to_have_text("待审核 (1)")  # the filtered total, not 3
    expect(page.locator('[data-count="pending"]')).to_have_text("3")
    expect(page.locator('[data-count="spam"]')).to_have_text("1")


def test_every_chart_label_lies_inside_the_chart(
    app: Flask, page: Page, make_comment: Callable[..., int]
) -> None:
    pending_comments(make_comment, 3)
    signed_in_page(app, page, "/mod/")
    chart = page.evaluate(CHART_BOXES)
    view, ticks = chart["view"], chart["ticks"]

    outside = [
        t
        for t in ticks
        if t["x"] < view["x"]
        or t["y"] < view["y"]
        or t["x"] + t["width"] > view["x"] + view["width"]
        or t["y"] + t["height"] > view["y"] + view["height"]
    ]
    assert not outside, f"labels outside the viewBox {view}: {outside}"
    days = [t for t in ticks if "-" in t["text"]]
    assert [len(t["text"]) for t in days] == [5] * len(days)  # MM-DD, nothing cut
    with app.app_context():
        today = datetime.now(ZoneInfo(app.config["TIMEZONE"])).strftime("%m-%d")
    assert days[-1]["text"] == today
    overlapping = [(a, b) for a, b in pairwise(days) if a["x"] + a["width"] > b["x"]]
    assert not overlapping, overlapping


def test_a_stale_action_does_not_override_another_moderators_decision(
    app: Flask, page: Page, make_comment: Callable[..., int]
) -> None:
    first, second = pending_comments(make_comment, 2)
    moderator_id = add_moderator(app)
    login(page, USERNAME, PASSWORD)
    page.goto("/mod/queue")
    expect(page.locator("#items > .item.current")).to_have_attribute("data-id", str(first))
    expect(page.locator(f"#c-{first} [name=expected_status]").first).to_have_value("pending")

    # Meanwhile another moderator approves the first comment in their own browser.
    with app.app_context():
        other = auth.add_moderator(OTHER_USERNAME, OTHER_PASSWORD)
        moderation.apply(first, Action.APPROVE, by=other)

    page.keyboard.press("r")

    toast = page.locator("#toast")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text(f"#{first}")
    expect(toast).to_contain_text(OTHER_USERNAME)
    expect(toast).to_contain_text("通过")
    expect(page.locator(f"#c-{first}")).to_have_count(0)
    expect(page.locator("#items > .item.current")).to_have_attribute("data-id", str(second))
    expect(page.locator("h1")).to_have_text("待审核 (1)")
    expect(page.locator('[data-count="pending"]')).to_have_text("1")
    expect(page.locator('[data-count="approved"]')).to_have_text("1")
    assert statuses(app) == {first: Status.APPROVED, second: Status.PENDING}
    with app.app_context():
        mine = db.session.scalar(
            select(func.count()).where(
                AuditEntry.moderator_id == moderator_id, AuditEntry.comment_id == first
            )
        )
    assert mine == 0
    # Longer than an ordinary message: the moderator has to read what happened.
    page.wait_for_timeout(3000)
    expect(toast).to_be_visible()
    expect(toast).to_contain_text(f"#{first}")
