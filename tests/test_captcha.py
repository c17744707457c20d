"""The image captcha: stateless to issue, server-keyed, single-use, expiring.

Routes: GET /captcha, GET /captcha/<token>.png, GET /captcha/<token>.wav; the
answer is checked (and the token spent) by ``service.captcha.spend``.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from PIL import Image
from sqlalchemy import func, inspect, select, table

from service import captcha
from service.extensions import db
from service.models import SpentCaptcha

CONFUSABLE = "0O1IL2Z5S8B6G"
Solved = Callable[[], tuple[str, str]]


def new_token(client: FlaskClient) -> str:
    response = client.get("/captcha")
    assert response.status_code == 200
    return response.get_json()["token"]


def row_counts() -> dict[str, int]:
    """Rows in every table of the database (call inside an app context)."""
    db.session.rollback()  # read what is committed now, not an older snapshot
    names = inspect(db.engine).get_table_names()
    assert "spent_captcha" in names
    counts = {
        name: db.session.execute(select(func.count()).select_from(table(name))).scalar_one()
        for name in names
    }
    counts["spent_captcha (model)"] = db.session.execute(
        select(func.count()).select_from(SpentCaptcha)
    ).scalar_one()
    return counts


def past_token(seconds_ago: int) -> str:
    """A correctly signed token whose timestamp lies ``seconds_ago`` in the past."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - seconds_ago)
        return captcha.new_challenge().token


# --- issuing ------------------------------------------------------------------------------


def test_new_captcha_returns_token_image_audio_and_lifetime(client: FlaskClient) -> None:
    response = client.get("/captcha")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert set(data) == {"token", "image", "audio", "expires_in"}
    assert data["expires_in"] == 600
    assert data["image"] == f"/captcha/{data['token']}.png"
    assert data["audio"] == f"/captcha/{data['token']}.wav"
    assert "no-store" in response.headers["Cache-Control"]


def test_captcha_image_is_a_220_by_70_png(client: FlaskClient) -> None:
    image_url = client.get("/captcha").get_json()["image"]

    response = client.get(image_url)

    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(response.data)) as image:
        assert image.format == "PNG"
        assert image.size == (220, 70)


def test_captcha_image_size_follows_the_settings(make_app: Callable[..., Flask]) -> None:
    client = make_app(CAPTCHA_WIDTH=300, CAPTCHA_HEIGHT=90).test_client()

    response = client.get(client.get("/captcha").get_json()["image"])

    with Image.open(io.BytesIO(response.data)) as image:
        assert image.size == (300, 90)


def test_captcha_audio_is_a_wav(client: FlaskClient) -> None:
    audio_url = client.get("/captcha").get_json()["audio"]

    response = client.get(audio_url)

    assert response.status_code == 200
    assert response.mimetype in {"audio/wav", "audio/x-wav"}
    assert response.data[:4] == b"RIFF"
    assert response.data[8:12] == b"WAVE"
    assert len(response.data) > 1000


def test_same_token_renders_byte_identical_image(client: FlaskClient) -> None:
    token = new_token(client)

    first = client.get(f"/captcha/{token}.png").data
    second = client.get(f"/captcha/{token}.png").data

    assert first == second


def test_same_token_renders_byte_identical_audio(client: FlaskClient) -> None:
    token = new_token(client)

    assert client.get(f"/captcha/{token}.wav").data == client.get(f"/captcha/{token}.wav").data


def test_two_tokens_differ_and_render_different_images(client: FlaskClient) -> None:
    first, second = new_token(client), new_token(client)

    assert first != second
    assert client.get(f"/captcha/{first}.png").data != client.get(f"/captcha/{second}.png").data


# --- the answer never leaves the server ---------------------------------------------------


def test_token_payload_is_only_a_random_nonce(client: FlaskClient, solved: Solved) -> None:
    token, answer = solved()

    # Decode without the key: whatever is in there, any client can read it too.
    _, payload = URLSafeTimedSerializer("不是服务器的密钥").loads_unsafe(token)

    assert isinstance(payload, str)
    assert re.fullmatch(r"[0-9a-f]{32}", payload)
    assert answer.upper() not in token.upper()
    assert answer.upper() not in payload.upper()
    with client.application.app_context():
        assert captcha.nonce_of(token) == payload


@pytest.mark.parametrize("kind", ["json", "png", "wav"])
def test_captcha_routes_set_no_cookie(client: FlaskClient, kind: str) -> None:
    issued = client.get("/captcha")
    token = issued.get_json()["token"]
    response = issued if kind == "json" else client.get(f"/captcha/{token}.{kind}")

    assert response.status_code == 200
    assert response.headers.getlist("Set-Cookie") == []
    assert "Cookie" not in response.headers.get("Vary", "")


def test_answer_is_in_no_header_of_any_captcha_response(
    client: FlaskClient, solved: Solved
) -> None:
    token, answer = solved()

    responses = [client.get(f"/captcha/{token}.png"), client.get(f"/captcha/{token}.wav")]

    for response in responses:
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers)
        assert "Set-Cookie" not in headers
        assert answer not in headers.upper()


def test_issuing_and_rendering_captchas_writes_nothing(client: FlaskClient, ctx: None) -> None:
    before = row_counts()
    assert before["spent_captcha"] == 0

    for _ in range(3):
        token = new_token(client)
        assert client.get(f"/captcha/{token}.png").status_code == 200
    assert client.get(f"/captcha/{token}.wav").status_code == 200

    assert row_counts() == before


def test_spending_a_token_writes_exactly_one_spent_row(solved: Solved, ctx: None) -> None:
    token, answer = solved()
    before = row_counts()

    assert captcha.spend(token, answer) is None

    after = row_counts()
    assert after["spent_captcha"] == before["spent_captcha"] + 1
    assert after["spent_captcha (model)"] == before["spent_captcha (model)"] + 1
    assert db.session.get(SpentCaptcha, captcha.nonce_of(token)) is not None


# --- answering --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda a: a, id="as-shown"),
        pytest.param(str.lower, id="lower-case"),
        pytest.param(lambda a: a[:2].lower() + a[2:], id="mixed-case"),
        pytest.param(lambda a: f" {a[0]} {a[1]} {a[2:4]} {a[4:]}".lower(), id="spaced"),
        pytest.param(lambda a: f"\t{a}\n", id="tabs-newlines"),
        pytest.param(lambda a: f"{a[:3]}\u3000{a[3:]}", id="ideographic-space"),
    ],
)
def test_answer_ignores_case_and_spaces(
    solved: Solved, ctx: None, variant: Callable[[str], str]
) -> None:
    token, answer = solved()

    assert captcha.spend(token, variant(answer)) is None


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda a: a[:-1], id="one-short"),
        pytest.param(lambda a: a + a[0], id="one-extra"),
        pytest.param(lambda a: a[::-1] if a != a[::-1] else a[1:] + "X", id="reversed"),
        pytest.param(lambda a: "验证码", id="chinese"),
        pytest.param(lambda a: "🙂🙂🙂🙂🙂", id="emoji"),
    ],
)
def test_wrong_answer_is_rejected_as_captcha_invalid(
    solved: Solved, ctx: None, wrong: Callable[[str], str]
) -> None:
    token, answer = solved()

    error = captcha.spend(token, wrong(answer))

    assert error is not None
    assert error.code == "captcha_invalid"


@pytest.mark.parametrize("answer", [None, "", "   ", "\u3000"])
def test_empty_answer_is_rejected_and_spends_the_token(
    solved: Solved, ctx: None, answer: str | None
) -> None:
    token, right = solved()

    error = captcha.spend(token, answer)

    assert error is not None and error.code == "captcha_invalid"
    assert captcha.spend(token, right) is not None


def test_missing_token_is_rejected(ctx: None) -> None:
    for token in (None, ""):
        error = captcha.spend(token, "ACDEF")
        assert error is not None and error.code == "captcha_invalid"


def test_right_answer_works_only_once(solved: Solved, ctx: None) -> None:
    token, answer = solved()

    assert captcha.spend(token, answer) is None
    second = captcha.spend(token, answer)

    assert second is not None
    assert second.code == "captcha_invalid"


def test_wrong_answer_spends_the_token(solved: Solved, ctx: None) -> None:
    token, answer = solved()
    wrong = "".join(c for c in captcha.ALPHABET if c not in answer)[: len(answer)]

    first = captcha.spend(token, wrong)
    second = captcha.spend(token, answer)

    assert first is not None and first.code == "captcha_invalid"
    assert second is not None and second.code == "captcha_invalid"


def test_a_spent_token_makes_no_second_comment(client: FlaskClient, solved: Solved) -> None:
    token, answer = solved()
    payload = {"author": "张三", "body": "第一条评论 🎉", "captcha_token": token}

    first = client.post(
        "/api/v1/articles/67584/comments", json=payload | {"captcha_answer": answer}
    )
    again = client.post(
        "/api/v1/articles/67584/comments", json=payload | {"captcha_answer": answer}
    )
    other = client.post(
        "/api/v1/articles/67584/comments",
        json=payload | {"captcha_answer": answer, "body": "另一条"},
    )

    assert first.status_code == 202
    # A retry gets the first answer (tests/test_idempotency.py), not a second comment.
    assert again.get_json()["id"] == other.get_json()["id"] == first.get_json()["id"]


# --- expiry and forgery -----------------------------------------------------------------


def test_token_older_than_ttl_is_expired(app: Flask, ctx: None) -> None:
    token = past_token(601)

    error = captcha.spend(token, captcha.answer_for(captcha.nonce_of(token, check_age=False)))

    assert error is not None
    assert error.code == "captcha_expired"


def test_token_within_ttl_is_still_accepted(ctx: None) -> None:
    token = past_token(590)

    assert captcha.spend(token, captcha.answer_for(captcha.nonce_of(token))) is None


def test_shorter_ttl_setting_expires_tokens_sooner(make_app: Callable[..., Flask]) -> None:
    app = make_app(CAPTCHA_TTL=60)
    with app.test_request_context():
        token = past_token(61)
        answer = captcha.answer_for(captcha.nonce_of(token, check_age=False))

        error = captcha.spend(token, answer)

    assert error is not None and error.code == "captcha_expired"
    assert app.test_client().get("/captcha").get_json()["expires_in"] == 60


def test_expired_token_is_refused_by_the_api_with_captcha_expired(
    client: FlaskClient, ctx: None
) -> None:
    token = past_token(3600)
    answer = captcha.answer_for(captcha.nonce_of(token, check_age=False))

    response = client.post(
        "/api/v1/articles/67584/comments",
        json={"body": "过期了吗？⏰", "captcha_token": token, "captcha_answer": answer},
    )

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "captcha_expired"


def test_expired_token_has_no_image(client: FlaskClient, ctx: None) -> None:
    token = past_token(3600)

    response = client.get(f"/captcha/{token}.png")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "captcha_expired"


def _tampered(token: str) -> str:
    # Change the signature's first character: the last one may carry only padding bits.
    payload, stamp, signature = token.split(".")
    first = "A" if signature[0] != "A" else "B"
    return f"{payload}.{stamp}.{first}{signature[1:]}"


def _other_key(token: str) -> str:
    return URLSafeTimedSerializer("另一把密钥", salt="captcha-token").dumps("0" * 32)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda t: "垃圾令牌", id="chinese-garbage"),
        pytest.param(lambda t: "not-a-token", id="ascii-garbage"),
        pytest.param(lambda t: "a.b.c", id="three-dots"),
        pytest.param(lambda t: "🙂" * 40, id="emoji"),
        pytest.param(_tampered, id="tampered-signature"),
        pytest.param(lambda t: t.split(".")[0], id="payload-only"),
        pytest.param(_other_key, id="signed-with-another-key"),
    ],
)
def test_forged_or_garbage_token_is_invalid(
    solved: Solved, ctx: None, forge: Callable[[str], str]
) -> None:
    token, answer = solved()

    error = captcha.spend(forge(token), answer)

    assert error is not None
    assert error.code == "captcha_invalid"


@pytest.mark.parametrize("extension", ["png", "wav"])
@pytest.mark.parametrize("token", ["garbage", "垃圾", "a.b.c", "x" * 300])
def test_media_for_garbage_token_is_a_json_404(
    client: FlaskClient, token: str, extension: str
) -> None:
    response = client.get(f"/captcha/{token}.{extension}")

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "captcha_invalid"
    assert error["message"]


# --- alphabet and length ----------------------------------------------------------------


@pytest.mark.parametrize("char", list(CONFUSABLE))
def test_alphabet_leaves_out_look_alike_characters(char: str) -> None:
    assert char not in captcha.ALPHABET


def test_alphabet_is_upper_case_and_has_no_duplicates() -> None:
    assert captcha.ALPHABET == captcha.ALPHABET.upper()
    assert len(set(captcha.ALPHABET)) == len(captcha.ALPHABET)
    assert len(captcha.ALPHABET) >= 16


def test_answers_use_only_the_alphabet_and_have_the_configured_length(ctx: None) -> None:
    answers = [captcha.answer_for(captcha.new_challenge().nonce) for _ in range(300)]

    assert all(len(answer) == 5 for answer in answers)
    assert set("".join(answers)) <= set(captcha.ALPHABET)
    # 300 answers of 5 characters draw on (nearly) the whole alphabet.
    assert len(set("".join(answers))) >= len(captcha.ALPHABET) - 2
    assert len(set(answers)) > 290


def test_captcha_length_setting_changes_answer_length(make_app: Callable[..., Flask]) -> None:
    app = make_app(CAPTCHA_LENGTH=7)
    with app.test_request_context():
        answer = captcha.answer_for(captcha.new_challenge().nonce)

    assert len(answer) == 7
    assert set(answer) <= set(captcha.ALPHABET)


def test_answer_depends_on_the_secret_key(make_app: Callable[..., Flask]) -> None:
    nonce = "0123456789abcdef0123456789abcdef"
    answers = set()
    for secret in ("密钥一", "密钥二", "third-key"):
        with make_app(SECRET_KEY=secret).app_context():
            answers.add(captcha.answer_for(nonce))

    assert len(answers) == 3


# --- test mode ------------------------------------------------------------------------------


def test_test_mode_accepts_passed_once_and_spends_the_token(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(CAPTCHA_TEST_MODE=True)
    with app.test_request_context():
        token = captcha.new_challenge().token
        right = captcha.answer_for(captcha.nonce_of(token))

        first = captcha.spend(token, "PASSED")
        second = captcha.spend(token, "PASSED")
        right_after = captcha.spend(token, right)

    assert first is None
    assert second is not None and second.code == "captcha_invalid"
    assert right_after is not None and right_after.code == "captcha_invalid"


def test_test_mode_answer_is_normalised_like_any_other(make_app: Callable[..., Flask]) -> None:
    app = make_app(CAPTCHA_TEST_MODE=True)
    with app.test_request_context():
        assert captcha.spend(captcha.new_challenge().token, " pas sed ") is None


def test_test_mode_still_checks_the_right_answer(make_app: Callable[..., Flask]) -> None:
    app = make_app(CAPTCHA_TEST_MODE=True)
    with app.test_request_context():
        token = captcha.new_challenge().token
        assert captcha.spend(token, captcha.answer_for(captcha.nonce_of(token))) is None


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: past_token(3600), id="expired"),
        pytest.param(lambda: "垃圾令牌", id="garbage"),
        pytest.param(lambda: None, id="missing"),
    ],
)
def test_test_mode_needs_a_valid_token(
    make_app: Callable[..., Flask], make_token: Callable[[], str | None]
) -> None:
    app = make_app(CAPTCHA_TEST_MODE=True)
    with app.test_request_context():
        error = captcha.spend(make_token(), "PASSED")

    assert error is not None
    assert error.code in {"captcha_invalid", "captcha_expired"}


def test_test_mode_is_off_by_default(app: Flask, solved: Solved, ctx: None) -> None:
    token, _ = solved()

    error = captcha.spend(token, "PASSED")

    assert app.config["CAPTCHA_TEST_MODE"] is False
    assert error is not None and error.code == "captcha_invalid"


def test_test_mode_works_through_the_api(make_app: Callable[..., Flask]) -> None:
    client = make_app(CAPTCHA_TEST_MODE=True).test_client()
    token = new_token(client)

    response = client.post(
        "/api/v1/articles/67584/comments",
        json={"body": "自动化测试 🤖", "captcha_token": token, "captcha_answer": "PASSED"},
    )

    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"


@pytest.mark.parametrize("enabled", [True, False])
def test_healthz_reports_captcha_test_mode(make_app: Callable[..., Flask], enabled: bool) -> None:
    client = make_app(CAPTCHA_TEST_MODE=enabled).test_client()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json()["captcha_test_mode"] is enabled


def test_test_mode_logs_a_warning_at_start_up(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        make_app(CAPTCHA_TEST_MODE=True)

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("TEST MODE" in r.getMessage().upper() for r in warnings)
    assert any("PASSED" in r.getMessage() for r in warnings)


def test_no_test_mode_warning_when_off(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        make_app()

    assert not any("TEST MODE" in r.getMessage().upper() for r in caplog.records)


# --- racing -----------------------------------------------------------------------------


@pytest.mark.parametrize("same_answer", [True, False], ids=["both-right", "right-and-wrong"])
def test_two_threads_spending_one_token_have_exactly_one_winner(
    app: Flask, solved: Solved, same_answer: bool
) -> None:
    token, answer = solved()
    answers = [answer, answer if same_answer else "🙅"]
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]
    failures: list[Exception] = []

    def spend(index: int) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=10)
                error = captcha.spend(token, answers[index])
                results[index] = "won" if error is None else error.code
                db.session.remove()
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    if same_answer:
        assert sorted(map(str, results)) == ["captcha_invalid", "won"]
    else:
        assert results[1] == "captcha_invalid"
        assert results[0] in {"won", "captcha_invalid"}
    with app.app_context():
        count = db.session.execute(select(func.count()).select_from(SpentCaptcha)).scalar_one()
    assert count == 1
