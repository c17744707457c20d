"""Posting a comment, tested on the service itself: comments.post_comment().

Its checks run cheapest first: the article key (400), the fields (422, the
captcha untouched), a closed article (403), then the captcha is spent (422 when
wrong), then bans (403); only then is the comment triaged and stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from service import bans, captcha, moderation, words
from service.articles import find_article, update_article
from service.bans import Banned
from service.comments import CommentRejected, Submission, post_comment
from service.config import DEFAULTS
from service.errors import CommentsClosed, InvalidArticleKey, ValidationFailed
from service.extensions import db
from service.models import Article, Comment, SpentCaptcha, Status, WordKind

ARTICLE = "67584"
OTHER_ARTICLE = "67590"
TITLE = "关于进一步优化政务服务的实施意见"
PORTAL_URL = "https://www.portal.example/zcjh/zhengwu/67584.html"
NICKNAME = "江南烟雨"
BODY = "政务服务“一网通办”真方便，上周办营业执照只跑了一次！👍"
IP = "203.0.113.20"
TOO_LONG_BODY = "评" * (DEFAULTS["COMMENT_MAX_LENGTH"] + 1)
TOO_LONG_NICKNAME = "长" * (DEFAULTS["NICKNAME_MAX_LENGTH"] + 1)

Captcha = tuple[str, str]


# --- helpers ----------------------------------------------------------------------------


def submission(challenge: Captcha, **fields: Any) -> Submission:
    """A reader's submission answering ``challenge`` (token, answer); fields override."""
    token, answer = challenge
    values: dict[str, Any] = {
        "article": ARTICLE,
        "author": NICKNAME,
        "body": BODY,
        "captcha_token": token,
        "captcha_answer": answer,
        "remote_addr": IP,
        **fields,
    }
    return Submission(**values)


def wrong_answer(answer: str) -> str:
    """An answer that differs from the right one in every character."""
    return "".join("X" if c != "X" else "Y" for c in answer)


def spent_captchas() -> int:
    return db.session.scalar(select(func.count()).select_from(SpentCaptcha)) or 0


def stored_comments() -> list[Comment]:
    db.session.expire_all()
    return list(db.session.execute(select(Comment).order_by(Comment.id)).scalars())


def field_codes(error: ValidationFailed) -> dict[str, str]:
    return {name: field.code for name, field in error.fields.items()}


# --- a valid submission -------------------------------------------------------------------


def test_a_valid_submission_is_stored_pending_with_only_a_hash_of_its_owner_key(ctx, solved):
    posted = post_comment(submission(solved()))

    (stored,) = stored_comments()
    assert stored.id == posted.comment.id
    assert (stored.status, stored.author, stored.body, stored.remote_addr) == (
        Status.PENDING,
        NICKNAME,
        BODY,
        IP,
    )
    assert posted.owner_key
    assert stored.owner_key_hash == moderation.hash_owner_key(posted.owner_key)
    assert posted.owner_key not in stored.owner_key_hash
    assert stored.article.approved_count == 0  # pending comments are not counted


def test_the_first_comment_creates_the_article_and_later_ones_reuse_it(ctx, solved):
    assert find_article(ARTICLE) is None

    first = post_comment(submission(solved(), title=TITLE, url=PORTAL_URL))
    second = post_comment(submission(solved(), body="我也觉得方便"))

    article = find_article(ARTICLE)
    assert article is not None
    assert (article.title, article.url, article.closed) == (TITLE, PORTAL_URL, False)
    assert first.comment.article_id == second.comment.article_id == article.id
    assert db.session.scalar(select(func.count()).select_from(Article)) == 1


def test_a_reply_to_a_reply_gets_its_threads_root_id(ctx, solved, make_comment):
    top = make_comment(body="顶楼：说得好")
    reply = make_comment(body="二楼：同意", parent_id=top)

    posted = post_comment(submission(solved(), reply_to=reply))

    assert (posted.comment.parent_id, posted.comment.root_id) == (reply, top)


def test_a_reply_to_a_top_comment_has_it_as_root(ctx, solved, make_comment):
    top = make_comment(body="顶楼：说得好")

    posted = post_comment(submission(solved(), reply_to=top))

    assert (posted.comment.parent_id, posted.comment.root_id) == (top, top)


# --- refusals, in the order they are checked ----------------------------------------------


def test_an_invalid_article_key_is_refused_before_anything_else(ctx, solved):
    with pytest.raises(InvalidArticleKey) as raised:
        post_comment(submission(solved(), article="新闻/67584", body=""))

    assert raised.value.status == 400
    assert spent_captchas() == 0
    assert stored_comments() == []


@pytest.mark.parametrize(
    ("body", "body_code"),
    [("", "required"), (" \n\t\u200b ", "required"), (TOO_LONG_BODY, "too_long")],
    ids=["empty-body", "blank-body", "too-long-body"],
)
def test_field_errors_come_all_at_once_and_leave_the_captcha_unspent(ctx, solved, body, body_code):
    challenge = solved()

    with pytest.raises(ValidationFailed) as raised:
        post_comment(submission(challenge, body=body, author=TOO_LONG_NICKNAME, reply_to=999_999))

    assert raised.value.status == 422
    assert field_codes(raised.value) == {
        "body": body_code,
        "author": "too_long",
        "reply_to": "invalid_reply",
    }
    assert raised.value.captcha_checked is False
    assert spent_captchas() == 0
    assert stored_comments() == []
    assert find_article(ARTICLE) is None
    # The reader fixes the text and sends the same captcha again: it still works.
    posted = post_comment(submission(challenge))
    assert posted.comment.status == Status.PENDING
    assert spent_captchas() == 1


def test_a_wrong_captcha_answer_is_refused_and_spends_the_token(ctx, solved):
    token, answer = solved()

    with pytest.raises(ValidationFailed) as raised:
        post_comment(submission((token, wrong_answer(answer))))

    assert raised.value.status == 422
    assert list(raised.value.fields) == ["captcha_answer"]
    assert raised.value.code == raised.value.fields["captcha_answer"].code == captcha.INVALID
    assert raised.value.captcha_checked is True
    assert spent_captchas() == 1
    assert stored_comments() == []
    # The token is never answered twice, not even rightly.
    with pytest.raises(ValidationFailed) as again:
        post_comment(submission((token, answer)))
    assert list(again.value.fields) == ["captcha_answer"]
    assert stored_comments() == []


def test_field_errors_are_reported_before_a_closed_article(ctx, solved, make_comment):
    make_comment()
    update_article(ARTICLE, closed=True)

    with pytest.raises(ValidationFailed) as raised:
        post_comment(submission(solved(), body=""))

    assert field_codes(raised.value) == {"body": "required"}
    assert spent_captchas() == 0


def test_a_closed_article_is_refused_without_spending_the_captcha(ctx, solved, make_comment):
    existing = make_comment()
    update_article(ARTICLE, closed=True)
    challenge = solved()

    with pytest.raises(CommentsClosed) as raised:
        post_comment(submission(challenge))

    assert raised.value.status == 403
    assert spent_captchas() == 0
    assert [c.id for c in stored_comments()] == [existing]
    # The same captcha still serves the reader on an article that is open.
    posted = post_comment(submission(challenge, article=OTHER_ARTICLE))
    assert posted.comment.article.key == OTHER_ARTICLE


def test_a_banned_ip_is_refused_after_the_captcha_is_spent(ctx, solved):
    bans.add_ban("198.51.100.0/24", None, "刷屏广告", None)

    with pytest.raises(Banned) as raised:
        post_comment(submission(solved(), remote_addr="198.51.100.7"))

    assert raised.value.status == 403
    assert spent_captchas() == 1
    assert stored_comments() == []
    assert find_article(ARTICLE) is None


def test_a_banned_ip_with_a_wrong_captcha_learns_only_about_the_captcha(ctx, solved):
    bans.add_ban("198.51.100.0/24", None, "刷屏广告", None)
    token, answer = solved()

    with pytest.raises(ValidationFailed) as raised:
        post_comment(submission((token, wrong_answer(answer)), remote_addr="198.51.100.7"))

    assert list(raised.value.fields) == ["captcha_answer"]
    assert spent_captchas() == 1


def test_a_banned_word_stores_the_comment_rejected_and_tells_the_reader(ctx, solved):
    words.add_words("代开发票", WordKind.BANNED, None)
    body = "专业代开发票，价格优惠，加微信详谈"

    with pytest.raises(CommentRejected) as raised:
        post_comment(submission(solved(), body=body))

    assert raised.value.status == 422
    (stored,) = stored_comments()
    assert stored.id == raised.value.comment_id
    assert (stored.status, stored.body) == (Status.REJECTED, body)
    assert stored.triage_reason is not None and "代开发票" in stored.triage_reason
    assert stored.article.approved_count == 0
    assert spent_captchas() == 1
