"""Spam waves: similar posts from many addresses go to spam as one wave, crowds do not."""

from __future__ import annotations

import json
import random
import re

import pytest
from helpers import csrf_token, form_post, post_as
from sqlalchemy import func, select

from service import antispam, moderation
from service.antispam import SpamWave, SpamWaveMember, WaveStatus
from service.extensions import db
from service.models import AuditEntry, Comment, Moderator, Status

ADVERTS = [
    "刷单兼职，日结300元，在家就能做，加V信{id}详聊！",
    "代开各类发票，正规渠道，价格优惠，电话{phone}，诚信经营。",
]


def advert(n: int, kind: int = 0) -> str:
    """The n-th post of an advert, made unique the way a wave does it."""
    text = ADVERTS[kind].format(id=f"wx{70000 + n}", phone=f"139{n:08d}")
    prefix = ["", "说得好！", "顶一下 ", "👍 "][n % 4]
    spaced = " ".join(text) if n % 3 == 1 else text
    return prefix + spaced


def ip(n: int) -> str:
    return f"198.51.{n // 250}.{n % 250 + 1}"


@pytest.fixture
def app(wave_app):
    return wave_app()


def statuses(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(Comment.status, func.count()).group_by(Comment.status))
        return {str(status): n for status, n in rows}


def waves_of(app) -> list[SpamWave]:
    with app.app_context():
        return list(db.session.execute(select(SpamWave).order_by(SpamWave.id)).scalars())


def test_a_wave_from_many_addresses_goes_to_spam_with_its_earlier_posts(app, client):
    answers = [post_as(client, ip(n), advert(n)) for n in range(4)]
    assert statuses(app) == {"pending": 4}  # not yet a wave: four posts

    answers.append(post_as(client, ip(4), advert(4)))

    # A spammer learns nothing: every answer reads "pending".
    assert [(a.status_code, a.get_json()["status"]) for a in answers] == [(202, "pending")] * 5
    assert statuses(app) == {"spam": 5}
    [wave] = waves_of(app)
    assert wave.status == WaveStatus.OPEN
    assert "5 similar comments with contacts from 5 addresses on 1 articles" in wave.reason


def test_earlier_members_are_moved_by_the_system_with_the_reason_in_the_audit_log(app, client):
    ids = [post_as(client, ip(n), advert(n)).get_json()["id"] for n in range(5)]

    with app.app_context():
        wave = db.session.execute(select(SpamWave)).scalar_one()
        moves = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "spam").order_by(AuditEntry.comment_id)
        ).scalars()
        moved = [(e.comment_id, e.actor, e.from_status, e.to_status, e.batch) for e in moves]
        assert moved == [(i, "system", "pending", "spam", wave.batch) for i in ids[:4]]
        detail = json.loads(
            db.session.execute(select(AuditEntry.detail).where(AuditEntry.action == "spam"))
            .scalars()
            .first()
        )
        assert detail["reason"].startswith(f"wave #{wave.id}: 5 similar comments")
        entries = db.session.execute(
            select(AuditEntry).where(AuditEntry.comment_id == ids[4]).order_by(AuditEntry.id)
        ).scalars()
        triage, detected = [(e.actor, e.action, e.to_status, json.loads(e.detail)) for e in entries]
        assert triage[:3] == ("system", "triage", "spam")
        assert "new wave" in triage[3]["reason"]
        assert detected[:2] == ("system", "wave")
        assert detected[3]["wave"] == wave.id
        members = db.session.execute(
            select(SpamWaveMember.comment_id).where(SpamWaveMember.wave_id == wave.id)
        ).scalars()
        assert sorted(members) == ids


def test_new_members_of_a_wave_go_to_spam_at_once(app, client):
    for n in range(5):
        post_as(client, ip(n), advert(n))

    later = [post_as(client, ip(n), advert(n)).get_json()["id"] for n in range(5, 40)]

    assert statuses(app) == {"spam": 40}
    with app.app_context():
        reasons = set(
            db.session.execute(select(Comment.triage_reason).where(Comment.id.in_(later))).scalars()
        )
        assert reasons == {"spam: wave #1 (similar comments from many addresses)"}
    [summary] = summaries(app)
    assert (summary.posts, summary.addresses, summary.articles) == (40, 40, 1)


def summaries(app) -> list[antispam.WaveSummary]:
    with app.test_request_context():
        return antispam.summaries()


@pytest.mark.parametrize(
    "phrases",
    [
        ["顶", "支持", "说得好", "中国队加油！", "转发了"],
        ["顶！", "支持支持", "说得好！！", "中国队加油！！！冲啊", "转发了。", "👍👍👍", "666"],
        [
            "中国女排加油！女排精神永不言败！",
            "中国队加油！中国队必胜！冲冲冲！",
            "转发了，让更多人看到！",
        ],
    ],
    ids=["plain", "with-variants", "slogans"],
)
def test_a_crowd_writing_the_same_short_phrases_is_not_swept(app, client, phrases):
    for n in range(150):
        answer = post_as(client, ip(n), phrases[n % len(phrases)])
        assert answer.status_code == 202

    assert statuses(app) == {"pending": 150}
    assert waves_of(app) == []


def test_one_address_repeating_itself_is_not_a_wave(app, client):
    for n in range(8):
        post_as(client, "203.0.113.50", advert(n))

    assert waves_of(app) == []
    assert statuses(app) == {"pending": 8}


GENUINE = [
    "这篇报道写得很详细，感谢记者的辛勤工作，希望后续继续跟进。",
    "家门口的路终于要修了，盼望早日通车，施工期间注意安全。",
    "请问具体的办理流程在哪里可以查到？官网上没有找到说明。",
    "数据很有说服力，建议多做一些图表解读，方便大家理解。",
    "去年我们小区也遇到同样的问题，物业到现在还没给说法。",
    "政策是好政策，关键是基层要落实到位，不能只停留在纸面上。",
]


def test_genuine_readers_during_a_wave_stay_pending(app, client):
    for n in range(30):
        post_as(client, ip(n), advert(n))
    genuine = [
        post_as(client, f"192.0.2.{n + 1}", text).get_json()["id"] for n, text in enumerate(GENUINE)
    ]

    with app.app_context():
        found = db.session.execute(select(Comment.status).where(Comment.id.in_(genuine)))
        assert [s for (s,) in found] == [Status.PENDING] * len(GENUINE)


def test_copy_pasted_text_without_contacts_is_a_wave_only_from_many_addresses(app, client):
    text = "这个产品真的太好用了，强烈推荐给大家，用过的都说好，赶紧去买吧！"
    for n in range(19):
        post_as(client, ip(n), text)
    assert waves_of(app) == []

    post_as(client, ip(19), text)

    assert len(waves_of(app)) == 1
    assert statuses(app) == {"spam": 20}


def test_two_adverts_make_two_waves(app, client):
    for n in range(6):
        post_as(client, ip(n), advert(n, 0))
        post_as(client, ip(100 + n), advert(n, 1))

    assert len(waves_of(app)) == 2
    assert statuses(app) == {"spam": 12}


def test_the_detector_can_be_switched_off(wave_app):
    app = wave_app(ANTISPAM_ENABLED=False)
    client = app.test_client()
    for n in range(10):
        post_as(client, ip(n), advert(n))

    assert statuses(app) == {"pending": 10}


# --- moderators: one wave, one keystroke, undoable ----------------------------------------


def make_wave(client, posts: int = 8) -> list[int]:
    return [post_as(client, ip(n), advert(n)).get_json()["id"] for n in range(posts)]


def moderator_of(app, name: str) -> Moderator:
    return db.session.execute(select(Moderator).where(Moderator.username == name)).scalar_one()


def test_releasing_a_wave_returns_its_comments_to_pending_and_undo_sweeps_them_again(
    app, client, moderator
):
    ids = make_wave(client)
    with app.test_request_context():
        released = antispam.release(1, moderator_of(app, moderator))
    assert sorted(released.moved) == ids
    assert statuses(app) == {"pending": 8}
    assert waves_of(app)[0].status == WaveStatus.RELEASED

    with app.test_request_context():
        undone = antispam.undo(released.batch, moderator_of(app, moderator))

    assert sorted(undone.moved) == ids
    assert statuses(app) == {"spam": 8}
    assert waves_of(app)[0].status == WaveStatus.OPEN


def test_posts_like_a_released_wave_are_no_longer_swept(app, client, moderator):
    make_wave(client)
    with app.test_request_context():
        antispam.release(1, moderator_of(app, moderator))

    later = post_as(client, ip(50), advert(50)).get_json()["id"]

    with app.app_context():
        assert db.session.get(Comment, later).status == Status.PENDING
    assert len(waves_of(app)) == 1


def test_confirming_a_wave_sends_its_pending_members_to_spam_and_undo_brings_them_back(
    app, client, moderator
):
    ids = make_wave(client)
    with app.test_request_context():
        # A moderator had taken one back to look at it.
        moderation.apply(ids[0], moderation.Action.RESTORE, by=moderator_of(app, moderator))
        confirmed = antispam.confirm(1, moderator_of(app, moderator))
    assert confirmed.moved == [ids[0]]
    assert statuses(app) == {"spam": 8}
    assert waves_of(app)[0].status == WaveStatus.CONFIRMED

    with app.test_request_context():
        undone = antispam.undo(confirmed.batch, moderator_of(app, moderator))

    assert undone.moved == [ids[0]]
    assert statuses(app) == {"pending": 1, "spam": 7}
    assert waves_of(app)[0].status == WaveStatus.OPEN


def test_a_wave_is_decided_once(app, client, moderator):
    make_wave(client)
    with app.test_request_context():
        antispam.confirm(1, moderator_of(app, moderator))
        with pytest.raises(antispam.WaveDecided):
            antispam.release(1, moderator_of(app, moderator))


def test_wave_view_shows_each_wave_as_one_item(app, client, mod_client):
    make_wave(client, posts=12)
    post_as(client, ip(99), advert(99), article="another-article")

    page = mod_client.get("/mod/waves").get_data(as_text=True)

    assert "13 条相似评论，来自 13 个地址，涉及 2 篇文章" in page
    assert page.count('class="item wave"') == 1
    assert "刷单兼职" in page  # sample texts
    assert re.search(r'data-count="waves">1</span>', page)


def test_wave_view_in_english(app, client, mod_client):
    make_wave(client)
    mod_client.get("/mod/lang/en")

    page = mod_client.get("/mod/waves").get_data(as_text=True)

    assert "8 similar comments from 8 addresses on 1 articles" in page


def test_sample_texts_are_escaped(app, client, mod_client):
    for n in range(6):
        post_as(client, ip(n), f"<script>alert(1)</script>{advert(n)}")

    page = mod_client.get("/mod/waves").get_data(as_text=True)

    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page


def test_wave_actions_need_the_csrf_token(app, client, mod_client):
    make_wave(client)

    answer = mod_client.post("/mod/waves/1/confirm", data={})

    assert answer.status_code == 400
    assert waves_of(app)[0].status == WaveStatus.OPEN


def test_wave_actions_need_a_signed_in_moderator(app, client):
    make_wave(client)

    answer = client.post("/mod/waves/1/confirm", data={"csrf_token": csrf_token(client)})

    assert answer.status_code in (302, 303, 401)
    assert waves_of(app)[0].status == WaveStatus.OPEN


def test_one_keystroke_confirms_and_the_answer_offers_undo(app, client, mod_client):
    make_wave(client)

    answer = form_post(mod_client, "/mod/waves/1/confirm", as_json=True)

    body = answer.get_json()
    assert answer.status_code == 200
    assert body["counts"]["waves"] == 0
    assert body["undo"].startswith("/mod/waves/undo/")
    undone = form_post(mod_client, body["undo"], as_json=True)
    assert undone.status_code == 200
    assert waves_of(app)[0].status == WaveStatus.OPEN


def test_release_without_javascript_redirects_to_an_undo_form(app, client, mod_client):
    make_wave(client)

    answer = form_post(mod_client, "/mod/waves/1/release")

    assert answer.status_code == 303
    page = mod_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "/mod/waves/undo/" in page
    assert statuses(app) == {"pending": 8}


def test_deciding_an_unknown_wave_is_404(mod_client):
    assert form_post(mod_client, "/mod/waves/999/confirm", as_json=True).status_code == 404


def test_undoing_twice_is_refused(app, client, mod_client):
    make_wave(client)
    undo = form_post(mod_client, "/mod/waves/1/confirm", as_json=True).get_json()["undo"]
    assert form_post(mod_client, undo, as_json=True).status_code == 200

    again = form_post(mod_client, undo, as_json=True)

    assert again.status_code == 409


def test_a_wave_mixed_with_random_readers_keeps_readers_out_of_it(app, client):
    rng = random.Random(7)
    readers = []
    for n in range(40):
        post_as(client, ip(n), advert(n))
        if n % 4 == 0:
            text = rng.choice(GENUINE) + rng.choice(["", "同意楼上。", "记者辛苦了！"])
            readers.append(post_as(client, f"192.0.2.{n + 1}", text).get_json()["id"])

    with app.app_context():
        members = set(db.session.execute(select(SpamWaveMember.comment_id)).scalars())
    assert not members & set(readers)


def test_earlier_posts_another_worker_saw_are_swept_from_the_database(app, client):
    from service.antispam.window import MemoryWindow

    earlier = [post_as(client, ip(n), advert(n)).get_json()["id"] for n in range(4)]
    # Another worker without a shared Redis: its window never saw those four.
    app.extensions["antispam"].window = MemoryWindow(clock=app.extensions["antispam"].clock)

    later = [post_as(client, ip(n), advert(n)).get_json()["id"] for n in range(10, 15)]

    assert statuses(app) == {"spam": 9}
    with app.app_context():
        members = set(db.session.execute(select(SpamWaveMember.comment_id)).scalars())
    assert members == set(earlier + later)
