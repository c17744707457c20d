"""Notifications: what is stored when, delivery with retries to real receivers, digests by
e-mail over real SMTP, chat robots, the dashboard page, and requests that never wait."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from helpers import form_post
from notify_helpers import (
    closed_port,
    receiver,
    running_worker,
    self_signed_certificate,
    smtp_server,
    wait_until,
)
from sqlalchemy import select

from service import moderation, notify
from service.extensions import db
from service.jobs import queue_of
from service.jobs.storage import QUEUE_NAME
from service.models import AuditEntry, Comment, Status
from service.moderation import Action
from service.notify import Delivery, DeliveryStatus, NotifyCursor

SECRET = "portal-shared-secret-123"
FAST_RETRIES = {"NOTIFY_RETRY_SECONDS": 0.05, "NOTIFY_MAX_ATTEMPTS": 3, "NOTIFY_TIMEOUT": 5}


def count_hook(url: str, name: str = "portal") -> dict:
    return {
        "url": url,
        "kind": "generic",
        "secret": SECRET,
        "events": ["article.count_changed"],
        "name": name,
    }


def pending_hook(url: str, name: str = "moderators") -> dict:
    return {
        "url": url,
        "kind": "generic",
        "secret": SECRET,
        "events": ["comment.pending"],
        "name": name,
    }


def stored(app) -> list[Delivery]:
    with app.app_context():
        return list(db.session.execute(select(Delivery).order_by(Delivery.id)).scalars())


def delivery(app, delivery_id: int) -> Delivery:
    with app.app_context():
        found = db.session.get(Delivery, delivery_id)
        assert found is not None
        return found


def settled(app, count: int = 1, timeout: float = 20) -> list[Delivery]:
    """Wait until ``count`` notifications exist and none is pending; return them all."""

    def check():
        rows = stored(app)
        done = len(rows) >= count and all(d.status != DeliveryStatus.PENDING for d in rows)
        return rows if done else None

    return wait_until(check, timeout, f"{count} settled notifications")


def approve(app, comment_id: int) -> None:
    with app.test_request_context():
        moderation.apply(comment_id, Action.APPROVE)


# --- what is stored, in the moderation transaction -----------------------------------------


def test_approving_stores_a_count_notification_per_subscriber(make_app, pending):
    app = make_app(
        WEBHOOKS=[count_hook("http://127.0.0.1:9/a"), count_hook("http://127.0.0.1:9/b", "cdn")]
    )
    comment_id = pending(article="67584")

    approve(app, comment_id)

    rows = stored(app)
    assert [(d.channel, d.event, d.status) for d in rows] == [
        ("webhook:portal", "article.count_changed", "pending"),
        ("webhook:cdn", "article.count_changed", "pending"),
    ]
    data = json.loads(rows[0].payload)
    assert data["article"] == "67584" and data["approved_count"] == 1
    assert data["public_version"] >= 1


def test_a_change_that_leaves_the_count_alone_stores_nothing(make_app, pending):
    app = make_app(WEBHOOKS=[count_hook("http://127.0.0.1:9/a")])
    comment_id = pending()

    with app.test_request_context():
        moderation.apply(comment_id, Action.REJECT)

    assert stored(app) == []


def test_a_refused_action_stores_nothing(make_app, make_comment):
    app = make_app(WEBHOOKS=[count_hook("http://127.0.0.1:9/a")])
    comment_id = make_comment(status=Status.APPROVED)

    with app.test_request_context(), pytest.raises(moderation.InvalidTransition):
        moderation.apply(comment_id, Action.RESTORE)
    approve_later = make_comment(status=Status.PENDING)
    with app.test_request_context():
        moderation.apply(approve_later, Action.SPAM)

    assert stored(app) == []


def test_a_bulk_action_tells_once_per_article_with_the_final_count(make_app, pending):
    app = make_app(WEBHOOKS=[count_hook("http://127.0.0.1:9/a")])
    ids = [pending(article="67584") for _ in range(3)] + [pending(article="67590")]

    with app.test_request_context():
        moderation.apply_many(ids, Action.APPROVE)

    payloads = sorted((json.loads(d.payload) for d in stored(app)), key=lambda p: p["article"])
    assert [(p["article"], p["approved_count"]) for p in payloads] == [("67584", 3), ("67590", 1)]


def test_deleting_an_approved_comment_tells_the_portal(make_app, make_comment):
    app = make_app(WEBHOOKS=[count_hook("http://127.0.0.1:9/a")])
    comment_id = make_comment(status=Status.APPROVED)

    with app.test_request_context():
        moderation.apply(comment_id, Action.DELETE)

    assert json.loads(stored(app)[0].payload)["approved_count"] == 0


def test_a_comment_published_at_once_tells_the_portal(make_app, solved):
    app = make_app(WEBHOOKS=[count_hook("http://127.0.0.1:9/a")], MODERATION_MODE="post")
    client = app.test_client()
    token = client.get("/captcha").get_json()["token"]
    with app.app_context():
        from service import captcha

        answer = captcha.answer_for(captcha.nonce_of(token))

    response = client.post(
        "/api/v1/articles/67584/comments",
        json={"body": "先发后审的评论", "captcha_token": token, "captcha_answer": answer},
    )

    assert response.status_code == 202
    assert json.loads(stored(app)[0].payload)["approved_count"] == 1


def test_without_subscribers_nothing_is_stored_or_queued(app, pending):
    comment_id = pending()

    approve(app, comment_id)

    assert stored(app) == []
    assert queue_of(app).huey.pending_count() == 0


# --- delivery to a real receiver, with retries -----------------------------------------------


REDIS_JOBS_URL = "redis://127.0.0.1:6379/13"


def forget_jobs(url: str) -> None:
    """Remove this queue's keys only (huey.*.comments): the database may be shared."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        for key in client.scan_iter(match=f"huey.*.{QUEUE_NAME}*"):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def jobs_url(request, tmp_path):
    """The queue's storage: this process's memory, a SQLite file, or Redis (database 13)."""
    if request.param == "memory":
        yield "memory://"
        return
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    from instances import redis_problem

    if redis_problem(REDIS_JOBS_URL):
        pytest.skip(redis_problem(REDIS_JOBS_URL))
    forget_jobs(REDIS_JOBS_URL)
    yield REDIS_JOBS_URL
    forget_jobs(REDIS_JOBS_URL)


def test_a_failed_delivery_is_retried_until_it_is_delivered(make_app, pending, jobs_url):
    with receiver(secret=SECRET, answers=[500, 200]) as portal:
        app = make_app(WEBHOOKS=[count_hook(portal.url)], JOBS_URL=jobs_url, **FAST_RETRIES)
        comment_id = pending(article="67584")

        with running_worker(app):
            approve(app, comment_id)
            [done] = settled(app)

        requests = portal.wait_for(2)
    assert done.status == DeliveryStatus.DELIVERED
    assert done.attempts == 2
    assert done.last_error is None  # cleared by the success
    assert len(requests) == 2
    assert all(r.signature_ok for r in requests)
    assert {r.headers["x-comments-delivery"] for r in requests} == {str(done.id)}
    body = requests[1].json
    assert body["event"] == "article.count_changed"
    assert body["data"]["article"] == "67584" and body["data"]["approved_count"] == 1


def test_a_delivery_that_keeps_failing_is_marked_failed_with_its_last_error(make_app, pending):
    with receiver(secret=SECRET, answers=[503]) as portal:
        app = make_app(WEBHOOKS=[count_hook(portal.url)], **FAST_RETRIES)
        comment_id = pending()

        with running_worker(app):
            approve(app, comment_id)
            [failed] = settled(app)

        assert len(portal.requests) == 3
    assert failed.status == DeliveryStatus.FAILED
    assert failed.attempts == 3
    assert failed.last_error == "HTTP 503"


def test_a_wrong_secret_is_a_failure_the_receiver_reports(make_app, pending):
    with receiver(secret="the-portal-expects-this-one", answers=[200]) as portal:
        app = make_app(
            WEBHOOKS=[count_hook(portal.url)], **{**FAST_RETRIES, "NOTIFY_MAX_ATTEMPTS": 1}
        )
        comment_id = pending()

        with running_worker(app):
            approve(app, comment_id)
            [failed] = settled(app)

    assert portal.requests[0].signature_ok is False
    assert failed.status == DeliveryStatus.FAILED and failed.last_error == "HTTP 401"


def test_backoff_doubles_up_to_an_hour(app):
    with app.app_context():
        delays = [notify.deliveries.backoff(n) for n in (1, 2, 3, 4, 20)]

    assert 30 <= delays[0] <= 33
    assert 60 <= delays[1] <= 66
    assert 120 <= delays[2] <= 132
    assert 240 <= delays[3] <= 264
    assert 3600 <= delays[4] <= 3960


def test_a_notification_is_sent_by_one_worker_at_a_time(make_app, pending):
    with receiver(secret=SECRET) as portal:
        app = make_app(WEBHOOKS=[count_hook(portal.url)])
        approve(app, pending())
        [row] = stored(app)

        with app.app_context():
            first = notify.deliver(row.id)
            second = notify.deliver(row.id)

        assert first.status == DeliveryStatus.DELIVERED
        assert second.status is None
        assert len(portal.requests) == 1


def test_an_unreachable_receiver_is_named_without_the_url_query(make_app, pending, caplog):
    token = "ROBOT-TOKEN-must-not-leak"
    url = f"http://127.0.0.1:{closed_port()}/robot/send?access_token={token}"
    app = make_app(
        WEBHOOKS=[{"url": url, "kind": "dingtalk", "secret": "SECsecret", "name": "ding"}],
        NOTIFY_MAX_ATTEMPTS=1,
    )
    pending()
    with app.app_context():
        [digest_id] = notify.run_digests()
        outcome = notify.deliver(digest_id)

    assert outcome.status == DeliveryStatus.FAILED
    assert outcome.error.startswith("connection failed")
    assert "Connection refused" in outcome.error
    assert token not in delivery(app, digest_id).last_error
    assert token not in caplog.text and "SECsecret" not in caplog.text


# --- the queue may be down; nothing is lost ---------------------------------------------------


def test_with_the_queue_down_the_request_succeeds_and_the_sweeper_delivers(make_app, pending):
    down = f"redis://127.0.0.1:{closed_port()}/0"
    with receiver(secret=SECRET) as portal:
        app = make_app(WEBHOOKS=[count_hook(portal.url)], JOBS_URL=down)
        comment_id = pending()

        approve(app, comment_id)  # the enqueue fails after the commit; no error here

        [waiting] = stored(app)
        assert waiting.status == DeliveryStatus.PENDING
        with app.app_context():
            assert notify.overdue() == []  # not yet: its job may still come
            later = datetime.now(UTC) + timedelta(minutes=2)
            assert notify.overdue(later) == [waiting.id]

        # A worker with a working queue: the minutely job finds it (two minutes on).
        working = make_app(WEBHOOKS=[count_hook(portal.url)])
        with working.app_context():
            for lost in notify.overdue(later):
                notify.deliver(lost, later)
        assert delivery(app, waiting.id).status == DeliveryStatus.DELIVERED
        assert portal.requests[0].signature_ok


def test_a_reader_can_post_while_the_queue_is_down(make_app):
    down = f"redis://127.0.0.1:{closed_port()}/0"
    app = make_app(WEBHOOKS=[pending_hook("http://127.0.0.1:9/x")], JOBS_URL=down)
    client = app.test_client()
    token = client.get("/captcha").get_json()["token"]
    with app.app_context():
        from service import captcha

        answer = captcha.answer_for(captcha.nonce_of(token))

    response = client.post(
        "/api/v1/articles/67584/comments",
        json={"body": "队列停了也能发表", "captcha_token": token, "captcha_answer": answer},
    )

    assert response.status_code == 202
    with app.app_context():
        assert db.session.get(Comment, response.get_json()["id"]).status == Status.PENDING


# --- a reader's request never waits for a delivery ---------------------------------------------


def post_comment(app, body: str = "请审核这条评论") -> object:
    client = app.test_client()
    token = client.get("/captcha").get_json()["token"]
    with app.app_context():
        from service import captcha

        answer = captcha.answer_for(captcha.nonce_of(token))
    return client.post(
        "/api/v1/articles/67584/comments",
        json={"body": body, "captcha_token": token, "captcha_answer": answer},
    )


def test_a_readers_post_returns_while_the_notification_is_still_being_delivered(make_app):
    import threading

    hold = threading.Event()
    with receiver(secret=SECRET, hold=hold) as moderators:
        app = make_app(WEBHOOKS=[pending_hook(moderators.url)])
        with running_worker(app):
            response = post_comment(app)

            # The POST has returned; the receiver is still holding the delivery's request.
            assert response.status_code == 202
            assert moderators.started.wait(15), "the worker never called the receiver"
            assert not moderators.answered.is_set()
            assert moderators.requests[0].signature_ok
            hold.set()
            [done] = settled(app)

    assert done.status == DeliveryStatus.DELIVERED
    data = moderators.requests[0].json["data"]
    assert data["count"] == 1 and data["comments"][0]["excerpt"] == "请审核这条评论"


# --- digests ------------------------------------------------------------------------------------


MAIL = {
    "SMTP_FROM": "评论系统 <comments@portal.example>",
    "NOTIFY_EMAILS": ["editor@portal.example", "chief@portal.example"],
    "DIGEST_MINUTES": 10,
}


def test_pending_comments_are_batched_into_one_mail_per_interval(make_app, pending):
    with smtp_server() as smtp:
        app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, **MAIL)
        first = [pending(body=f"第{n}条待审评论") for n in (1, 2, 3)]
        start = datetime.now(UTC)
        with app.app_context():
            [digest_id] = notify.run_digests(start)
            assert notify.deliver(digest_id).status == DeliveryStatus.DELIVERED

            later = pending(body="第4条待审评论")
            assert notify.run_digests(start + timedelta(minutes=9)) == []  # too soon
            [second_id] = notify.run_digests(start + timedelta(minutes=10))
            notify.deliver(second_id, start + timedelta(minutes=10))
            assert notify.run_digests(start + timedelta(minutes=30)) == []  # nothing new

        mails = smtp.wait_for(2)
    (sender, recipients, mail), (_s, _r, second) = mails
    assert sender == "comments@portal.example"
    assert recipients == ["editor@portal.example", "chief@portal.example"]
    assert mail["Subject"] == "【评论审核】3 条新评论待审核"
    text = mail.get_content()
    for n, comment_id in zip((1, 2, 3), first, strict=True):
        assert f"#{comment_id}" in text and f"第{n}条待审评论" in text
    assert "http://localhost/mod/queue/pending" in text
    assert second["Subject"] == "【评论审核】1 条新评论待审核"
    assert f"#{later}" in second.get_content() and f"#{first[0]}" not in second.get_content()


def test_a_digest_lists_ten_and_counts_the_rest(make_app, pending):
    app = make_app(SMTP_HOST="127.0.0.1", **MAIL)
    for n in range(12):
        pending(body=f"评论{n}")

    with app.app_context():
        [digest_id] = notify.run_digests()
        payload = json.loads(db.session.get(Delivery, digest_id).payload)
        text = notify.digest.render_text(payload)

    assert payload["count"] == 12 and len(payload["comments"]) == 10 and payload["more"] == 2
    assert "还有 2 条" in text


def test_comments_moderated_before_the_digest_are_left_out(make_app, pending):
    app = make_app(SMTP_HOST="127.0.0.1", **MAIL)
    kept, gone = pending(body="还在等"), pending(body="已经处理")
    approve(app, gone)

    with app.app_context():
        [digest_id] = notify.run_digests()
        payload = json.loads(db.session.get(Delivery, digest_id).payload)

    assert [c["id"] for c in payload["comments"]] == [kept]


def test_two_workers_making_the_same_digest_send_it_once(make_app, pending):
    """Both read the cursor at the same place; only the first moves it (and sends)."""
    app = make_app(SMTP_HOST="127.0.0.1", **MAIL)
    newest = pending()
    now = datetime.now(UTC)
    with app.app_context():
        db.session.add(NotifyCursor(channel="email", last_comment_id=0))
        db.session.commit()

        first = notify.digest.advance_cursor("email", 0, newest, now)
        second = notify.digest.advance_cursor("email", 0, newest, now)
        db.session.commit()

        assert (first, second) == (True, False)
        assert notify.run_digests(now + timedelta(hours=1)) == []  # nothing new past the cursor


def test_mail_goes_through_starttls_and_login(make_app, pending, tmp_path, monkeypatch):
    cert, key = self_signed_certificate(tmp_path)
    # Our client verifies the server's certificate: trust the test's own for this test.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with smtp_server(user="mailer", password="smtp-auth-code-1", tls=(cert, key)) as smtp:
        app = make_app(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp.port,
            SMTP_STARTTLS=True,
            SMTP_USER="mailer",
            SMTP_PASSWORD="smtp-auth-code-1",
            **MAIL,
        )
        pending()
        with app.app_context():
            [digest_id] = notify.run_digests()
            outcome = notify.deliver(digest_id)

        assert outcome.status == DeliveryStatus.DELIVERED, outcome.error
        assert smtp.logins == [("mailer", "smtp-auth-code-1")]
        assert len(smtp.wait_for(1)) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_a_refused_login_is_retried_and_says_why_without_the_password(make_app, pending, caplog):
    with smtp_server(user="mailer", password="right-password") as smtp:
        app = make_app(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp.port,
            SMTP_USER="mailer",
            SMTP_PASSWORD="wrong-password-xyz",
            **MAIL,
        )
        pending()
        with app.app_context():
            [digest_id] = notify.run_digests()
            outcome = notify.deliver(digest_id)

    assert outcome.status == DeliveryStatus.PENDING and outcome.retry_in > 0
    assert outcome.error == "SMTP login refused: 535"
    assert "wrong-password-xyz" not in caplog.text
    assert smtp.messages == []


def test_an_unreachable_mail_server_is_retried(make_app, pending):
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=closed_port(), **MAIL)
    pending()

    with app.app_context():
        [digest_id] = notify.run_digests()
        outcome = notify.deliver(digest_id)

    assert outcome.status == DeliveryStatus.PENDING
    assert "unreachable" in outcome.error


# --- chat robots ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "secret"),
    [("dingtalk", "SEC0123456789abcdef"), ("feishu", "lark-secret"), ("wecom", None)],
)
def test_chat_robots_get_the_digest_as_signed_text(make_app, pending, kind, secret):
    with receiver(kind=kind, secret=secret) as robot:
        hook = {"url": robot.url + "?access_token=tok", "kind": kind, "name": "group"}
        if secret:
            hook["secret"] = secret
        app = make_app(WEBHOOKS=[hook])
        comment_id = pending(body="机器人应该看到这条")

        with app.app_context():
            [digest_id] = notify.run_digests()
            outcome = notify.deliver(digest_id)

        assert outcome.status == DeliveryStatus.DELIVERED, outcome.error
        [request] = robot.requests
    assert request.signature_ok in (True, None) and (secret is None) == (
        request.signature_ok is None
    )
    body = request.json
    text = body["content"]["text"] if kind == "feishu" else body["text"]["content"]
    assert f"#{comment_id}" in text and "机器人应该看到这条" in text
    assert "1 条新评论等待审核" in text


@pytest.mark.parametrize("kind", ["dingtalk", "feishu", "wecom"])
def test_a_robot_that_refuses_in_an_http_200_is_a_failure(make_app, pending, kind):
    with receiver(kind=kind, answers=["refuse"]) as robot:
        app = make_app(WEBHOOKS=[{"url": robot.url, "kind": kind, "name": "group"}])
        pending()
        with app.app_context():
            [digest_id] = notify.run_digests()
            outcome = notify.deliver(digest_id)

    assert outcome.status == DeliveryStatus.PENDING
    assert outcome.error.startswith(f"{kind} refused the message")


def test_a_robot_with_the_wrong_secret_fails_with_its_code(make_app, pending):
    with receiver(kind="dingtalk", secret="SECthe-robot-has-this") as robot:
        hook = {"url": robot.url, "kind": "dingtalk", "secret": "SECwe-have-another", "name": "g"}
        app = make_app(WEBHOOKS=[hook])
        pending()
        with app.app_context():
            [digest_id] = notify.run_digests()
            outcome = notify.deliver(digest_id)

    assert robot.requests[0].signature_ok is False
    assert "code 310000" in outcome.error


# --- the dashboard ----------------------------------------------------------------------------


def failed_delivery(app, pending, portal_url: str) -> int:
    approve(app, pending())
    [row] = stored(app)
    with app.app_context():
        outcome = notify.deliver(row.id)
    assert outcome.status == DeliveryStatus.FAILED
    return row.id


def test_failed_notifications_are_listed_for_admins_with_their_error(make_app, pending, admin):
    from helpers import ADMIN, ADMIN_PASSWORD, login

    with receiver(secret=SECRET, answers=[500]) as portal:
        app = make_app(WEBHOOKS=[count_hook(portal.url)], NOTIFY_MAX_ATTEMPTS=1)
        failed_id = failed_delivery(app, pending, portal.url)
    client = app.test_client()
    login(client, ADMIN, ADMIN_PASSWORD)

    page = client.get("/mod/admin/notifications?status=failed").get_data(as_text=True)
    home = client.get("/mod/queue").get_data(as_text=True)

    assert f'data-delivery="{failed_id}" data-status="failed"' in page
    assert "HTTP 500" in page
    assert "portal" in page and "127.0.0.1" in page
    assert 'title="失败的通知">1</span>' in home  # the menu shows that one failed


def test_an_admin_can_retry_a_failed_notification(make_app, pending, admin):
    from helpers import ADMIN, ADMIN_PASSWORD, login

    with receiver(secret=SECRET, answers=[500, 200]) as portal:
        app = make_app(WEBHOOKS=[count_hook(portal.url)], NOTIFY_MAX_ATTEMPTS=1)
        failed_id = failed_delivery(app, pending, portal.url)
        client = app.test_client()
        login(client, ADMIN, ADMIN_PASSWORD)

        with running_worker(app):
            response = form_post(client, f"/mod/admin/notifications/{failed_id}/retry")
            assert response.status_code == 303
            wait_until(
                lambda: delivery(app, failed_id).status == DeliveryStatus.DELIVERED,
                what="the retried notification delivered",
            )

    with app.app_context():
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "notification_retry")
        ).scalar_one()
    assert entry.actor == ADMIN and f'"notification": {failed_id}' in entry.detail


def test_retry_needs_the_csrf_token_and_an_admin(make_app, pending, moderator, admin):
    from helpers import ADMIN, ADMIN_PASSWORD, MOD_PASSWORD, MODERATOR, login

    app = make_app(
        WEBHOOKS=[count_hook(f"http://127.0.0.1:{closed_port()}/")], NOTIFY_MAX_ATTEMPTS=1
    )
    failed_id = failed_delivery(app, pending, "")
    admin_client, mod_client = app.test_client(), app.test_client()
    login(admin_client, ADMIN, ADMIN_PASSWORD)
    login(mod_client, MODERATOR, MOD_PASSWORD)

    without_token = admin_client.post(f"/mod/admin/notifications/{failed_id}/retry")
    as_moderator = form_post(mod_client, f"/mod/admin/notifications/{failed_id}/retry")
    page_for_moderator = mod_client.get("/mod/admin/notifications")

    assert without_token.status_code == 400
    assert as_moderator.status_code == 403
    assert page_for_moderator.status_code == 403
    assert delivery(app, failed_id).status == DeliveryStatus.FAILED


def test_a_test_notification_reaches_the_channel(make_app, admin):
    from helpers import ADMIN, ADMIN_PASSWORD, login

    with receiver(secret=SECRET) as portal:
        app = make_app(WEBHOOKS=[count_hook(portal.url)])
        client = app.test_client()
        login(client, ADMIN, ADMIN_PASSWORD)
        with running_worker(app):
            response = form_post(
                client, "/mod/admin/notifications/test", {"channel": "webhook:portal"}
            )
            [request] = portal.wait_for(1)

        unknown = form_post(client, "/mod/admin/notifications/test", {"channel": "webhook:nope"})

    assert response.status_code == 303
    assert request.signature_ok and request.json["event"] == "test"
    assert unknown.status_code == 400


def test_the_page_refuses_an_unknown_status_filter(admin_client):
    assert admin_client.get("/mod/admin/notifications?status=lost").status_code == 400
    assert admin_client.get("/mod/admin/notifications?page=x").status_code == 400
    assert admin_client.get("/mod/admin/notifications").status_code == 200


def test_error_text_on_the_page_is_escaped(make_app, admin):
    from helpers import ADMIN, ADMIN_PASSWORD, login

    app = make_app()
    with app.app_context():
        db.session.add(
            Delivery(
                channel="webhook:x",
                event="test",
                payload="{}",
                status="failed",
                last_error="<script>alert(1)</script>",
            )
        )
        db.session.commit()
    client = app.test_client()
    login(client, ADMIN, ADMIN_PASSWORD)

    page = client.get("/mod/admin/notifications").get_data(as_text=True)

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_old_settled_notifications_are_purged(app, ctx):
    old = datetime.now(UTC) - timedelta(days=31)
    for status in ("delivered", "failed", "pending"):
        db.session.add(
            Delivery(channel="email", event="test", payload="{}", status=status, created_at=old)
        )
    db.session.add(Delivery(channel="email", event="test", payload="{}", status="delivered"))
    db.session.commit()

    assert notify.purge_settled() == 2
    assert sorted(d.status for d in db.session.execute(select(Delivery)).scalars()) == [
        "delivered",
        "pending",
    ]
