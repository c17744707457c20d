"""A retried post never makes two comments: the captcha token is the submission's
idempotency key, and the same token rightly answered again gets the first answer."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from service import words
from service.extensions import db
from service.models import Comment, Status, WordKind

ARTICLE = "67584"
Solved = Callable[[], tuple[str, str]]


def stored(app: Flask) -> list[Comment]:
    with app.app_context():
        return list(db.session.execute(db.select(Comment)).scalars())


def submit(client: FlaskClient, token: str, answer: str, article: str = ARTICLE, **fields):  # type: ignore[no-untyped-def]
    payload = {"body": "网络断了，再发一次", "captcha_token": token, "captcha_answer": answer}
    return client.post(f"/api/v1/articles/{article}/comments", json=payload | fields)


def test_a_retry_gets_the_first_answer_and_no_second_comment(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    token, answer = solved()

    first = submit(client, token, answer)
    retry = submit(client, token, answer)

    assert first.status_code == retry.status_code == 202
    assert retry.get_json() == first.get_json()  # same id, same status, same owner key
    assert len(stored(app)) == 1


def test_the_retried_owner_key_still_withdraws_the_comment(
    client: FlaskClient, solved: Solved
) -> None:
    token, answer = solved()
    submit(client, token, answer)

    retry = submit(client, token, answer).get_json()
    withdrawn = client.delete(
        f"/api/v1/articles/{ARTICLE}/comments/{retry['id']}", json={"key": retry["owner_key"]}
    )

    assert withdrawn.status_code == 200


def test_a_widget_form_retry_lands_on_the_same_comment(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    token, answer = solved()
    form = {"body": "表单重发", "captcha_token": token, "captcha_answer": answer}

    first = client.post(f"/embed/{ARTICLE}", data=form)
    retry = client.post(f"/embed/{ARTICLE}", data=form)

    assert first.status_code == retry.status_code == 303
    assert len(stored(app)) == 1


def test_the_token_is_no_key_for_another_article(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    token, answer = solved()
    submit(client, token, answer)

    elsewhere = submit(client, token, answer, article="67590")

    assert elsewhere.status_code == 422
    assert elsewhere.get_json()["error"]["code"] == "captcha_invalid"
    assert len(stored(app)) == 1


def test_a_wrong_answer_spends_the_token_for_good(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    token, answer = solved()

    wrong = submit(client, token, "WRONG")
    right_after = submit(client, token, answer)

    assert wrong.status_code == right_after.status_code == 422
    assert stored(app) == []


def test_a_retry_after_a_banned_word_is_refused_again(
    app: Flask, client: FlaskClient, solved: Solved
) -> None:
    with app.app_context():
        words.add_words("刷单", WordKind.BANNED, None)
    token, answer = solved()

    first = submit(client, token, answer, body="刷单兼职日结")
    retry = submit(client, token, answer, body="刷单兼职日结")

    assert first.status_code == retry.status_code == 422
    assert retry.get_json()["error"]["code"] == "comment_rejected"
    assert [c.status for c in stored(app)] == [Status.REJECTED]


def test_a_double_click_makes_one_comment(app: Flask, client: FlaskClient, solved: Solved) -> None:
    token, answer = solved()
    answers: list[dict] = []
    start = threading.Barrier(4)

    def click() -> None:
        own = app.test_client()
        start.wait()
        answers.append(submit(own, token, answer).get_json())

    clicks = [threading.Thread(target=click) for _ in range(4)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(timeout=30)

    assert len(stored(app)) == 1
    ids = {a.get("id") for a in answers}
    assert ids == {stored(app)[0].id}, answers
