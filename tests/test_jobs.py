"""The job queue: its storage, its periodic work, the worker command and `make run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from instances import (
    PROJECT_ROOT,
    free_port,
    migrate,
    new_secret_key,
    request,
    service_env,
    venv_tool,
)
from notify_helpers import receiver, running_worker, wait_until
from sqlalchemy import select

from service import captcha
from service.extensions import db
from service.jobs import queue_of, run_retention
from service.jobs.storage import describe, jobs_url
from service.models import Comment, SpentCaptcha
from service.notify import Delivery, DeliveryStatus

SECRET = "portal-shared-secret-123"


def pending_hook(url: str) -> dict:
    return {
        "url": url,
        "kind": "generic",
        "secret": SECRET,
        "events": ["comment.pending"],
        "name": "moderators",
    }


# --- where jobs are kept ------------------------------------------------------------------


def test_the_embedded_default_is_a_sqlite_file_in_the_instance_folder():
    assert jobs_url({}, "/srv/comments/instance") == "sqlite:////srv/comments/instance/jobs.db"


def test_redis_is_used_when_the_service_has_one():
    assert jobs_url({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "/x") == "redis://127.0.0.1:6379/0"
    both = {"REDIS_URL": "redis://127.0.0.1:6379/0", "JOBS_URL": "redis://127.0.0.1:6379/3"}
    assert jobs_url(both, "/x") == "redis://127.0.0.1:6379/3"


def test_the_storage_is_described_without_secrets():
    assert describe("redis://:s3cret-pass@10.0.0.5:6379/2") == "Redis 10.0.0.5:6379/2"
    assert describe("sqlite:////srv/comments/instance/jobs.db") == "SQLite jobs.db"


def test_an_unknown_storage_stops_the_start(make_app):
    with pytest.raises(ValueError, match="COMMENTS_JOBS_URL must be"):
        make_app(JOBS_URL="amqp://127.0.0.1/")


def test_a_sqlite_queue_keeps_jobs_across_processes(make_app, tmp_path):
    """What one process queues, a worker of another process (here: another app) runs."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    web = make_app(JOBS_URL=url)
    worker = make_app(JOBS_URL=url)

    queue_of(web).tasks.digest()

    assert queue_of(worker).huey.pending_count() == 1


# --- requests only enqueue, and not too often -----------------------------------------------


def test_a_burst_of_pending_comments_asks_for_one_digest(make_app):
    app = make_app(WEBHOOKS=[pending_hook("http://127.0.0.1:9/")])

    with app.test_request_context():
        from service import moderation
        from service.articles import ensure_article
        from service.models import Comment, Status

        article = ensure_article("67584")
        for n in range(5):
            comment = Comment(
                article=article, author="网友", body=f"评论{n}", status=Status.PENDING
            )
            db.session.add(comment)
            db.session.flush()
            moderation.admit(comment)
            db.session.commit()

    assert queue_of(app).huey.pending_count() == 1


def test_nothing_is_queued_when_no_channel_listens(app, pending):
    pending()
    pending()

    assert queue_of(app).huey.pending_count() == 0


# --- periodic work --------------------------------------------------------------------------


def periodic_names(app, moment: datetime) -> set[str]:
    return {task.name for task in queue_of(app).huey.read_periodic(moment)}


def test_periodic_work_runs_on_its_schedule(app):
    assert periodic_names(app, datetime(2026, 12, 2, 8, 1)) == {"notify.minutely"}
    assert periodic_names(app, datetime(2026, 12, 2, 8, 10)) == {"notify.minutely", "captcha.purge"}
    # 19:23 UTC is 03:23 in Beijing, a quiet hour for a Chinese portal.
    assert "retention" in periodic_names(app, datetime(2026, 12, 2, 19, 23))
    assert "notify.purge" in periodic_names(app, datetime(2026, 12, 2, 19, 41))
    assert "retention" not in periodic_names(app, datetime(2026, 12, 2, 19, 24))


def test_the_periodic_job_purges_spent_captchas(app, ctx):
    now = datetime.now(UTC)
    db.session.add_all(
        [
            SpentCaptcha(nonce="old", expires_at=now - timedelta(minutes=1)),
            SpentCaptcha(nonce="live", expires_at=now + timedelta(minutes=5)),
        ]
    )
    db.session.commit()

    queue_of(app).tasks.purge_captchas.call_local()

    db.session.expire_all()
    assert list(db.session.execute(select(SpentCaptcha.nonce)).scalars()) == ["live"]
    assert captcha.purge_spent() == 0


def test_the_retention_job_applies_the_retention_rules(app, make_comment):
    comment_id = make_comment(remote_addr="203.0.113.77")
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        comment.created_at = datetime.now(UTC) - timedelta(days=400)
        db.session.commit()
    moment = datetime.now(UTC)

    result = run_retention(app, moment)
    queue_of(app).tasks.retention.call_local()  # the periodic job, run once more

    assert result.truncated == 1 and result.now == moment
    with app.app_context():
        assert db.session.get(Comment, comment_id).remote_addr == "203.0.113.0/24"


def test_the_minutely_job_requeues_a_notification_whose_job_was_lost(make_app):
    with receiver(secret=SECRET) as moderators:
        app = make_app(WEBHOOKS=[pending_hook(moderators.url)])
        with app.app_context():
            lost = Delivery(
                channel="webhook:moderators",
                event="test",
                payload=json.dumps({"message": "迟到的通知"}),
                next_attempt_at=datetime.now(UTC) - timedelta(minutes=5),
            )
            db.session.add(lost)
            db.session.commit()
            lost_id = lost.id

        with running_worker(app):
            queue_of(app).tasks.minutely.call_local()
            [received] = moderators.wait_for(1)

        with app.app_context():
            assert db.session.get(Delivery, lost_id).status == DeliveryStatus.DELIVERED
    assert received.json["data"] == {"message": "迟到的通知"}


def test_the_minutely_job_sends_due_digests(make_app, pending):
    with receiver(secret=SECRET) as moderators:
        app = make_app(WEBHOOKS=[pending_hook(moderators.url)])
        comment_id = pending(body="每分钟检查一次")

        with running_worker(app):
            queue_of(app).tasks.minutely.call_local()
            [received] = moderators.wait_for(1)

    assert received.json["event"] == "comment.pending"
    assert received.json["data"]["comments"][0]["id"] == comment_id


# --- the command line ---------------------------------------------------------------------


def test_jobs_status_lists_the_queue_and_the_notifications(make_app):
    app = make_app(WEBHOOKS=[pending_hook("http://127.0.0.1:9/")])
    with app.app_context():
        db.session.add(Delivery(channel="email", event="test", payload="{}", status="failed"))
        db.session.commit()
    queue_of(app).tasks.digest()

    result = app.test_cli_runner().invoke(args=["jobs", "status"])

    assert result.exit_code == 0, result.output
    assert "storage\tmemory://" in result.output
    assert "queued\t1" in result.output
    assert "notifications failed\t1" in result.output


def children_of(pid: int) -> set[int]:
    """Direct children of a process, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("PPid:") and int(line.split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


@pytest.fixture
def serve(tmp_path):
    """Start scripts/serve.sh (what `make run` runs) on a fresh database; stop it at the end."""
    started: list[subprocess.Popen] = []

    def start(**settings: object) -> tuple[subprocess.Popen, str]:
        env = service_env(
            DATABASE_URL=f"sqlite:///{tmp_path / 'comments.db'}",
            JOBS_URL=f"sqlite:///{tmp_path / 'jobs.db'}",
            SECRET_KEY=new_secret_key(),
            CAPTCHA_TEST_MODE=True,
            **settings,
        )
        migrate(env)
        port = free_port()
        env.update(
            VENV=str(Path(venv_tool("flask")[0]).parent.parent), HOST="127.0.0.1", PORT=str(port)
        )
        log = (tmp_path / "serve.log").open("wb")
        proc = subprocess.Popen(
            ["bash", "scripts/serve.sh"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        started.append(proc)
        base = f"http://127.0.0.1:{port}"

        def healthy():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return request(base, "GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_until(healthy, 60, "serve.sh answering /healthz")
        return proc, base

    yield start
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def post_a_comment(base: str) -> int:
    token = request(base, "GET", "/captcha").json()["token"]
    answer = request(
        base,
        "POST",
        "/api/v1/articles/67584/comments",
        {"body": "演示站点的新评论", "captcha_token": token, "captcha_answer": "PASSED"},
    )
    assert answer.status == 202, answer.body
    return answer.json()["id"]


@pytest.mark.slow
def test_make_run_serves_with_a_job_worker_and_stops_both(serve):
    with receiver(secret=SECRET) as moderators:
        proc, base = serve(WEBHOOKS=json.dumps([pending_hook(moderators.url)]))
        children = children_of(proc.pid)
        assert len(children) == 2  # gunicorn's master and the job worker

        comment_id = post_a_comment(base)
        [received] = moderators.wait_for(1, timeout=30)  # sent by the worker process

        proc.send_signal(signal.SIGTERM)  # to the script only, as a supervisor would
        assert proc.wait(timeout=30) == 143
    assert received.signature_ok
    assert received.json["data"]["comments"][0]["id"] == comment_id
    wait_until(lambda: not any(alive(pid) for pid in children), 15, "both children gone")


@pytest.mark.slow
def test_when_the_worker_dies_make_run_stops_gunicorn_too(serve):
    proc, _base = serve()
    children = children_of(proc.pid)
    worker = next(pid for pid in children if b"jobs" in Path(f"/proc/{pid}/cmdline").read_bytes())

    os.kill(worker, signal.SIGKILL)

    assert proc.wait(timeout=30) != 0
    wait_until(lambda: not any(alive(pid) for pid in children), 15, "gunicorn gone too")


def test_the_worker_command_runs_until_interrupted(tmp_path):
    """`flask --app wsgi jobs run` starts, says where its jobs are, and stops on Ctrl-C."""
    env = service_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'comments.db'}",
        JOBS_URL=f"sqlite:///{tmp_path / 'jobs.db'}",
        SECRET_KEY=new_secret_key(),
    )
    migrate(env)
    proc = subprocess.Popen(
        [*venv_tool("flask"), "--app", "wsgi", "jobs", "run", "--workers", "1"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        first = proc.stdout.readline().decode()
        assert "jobs worker on SQLite jobs.db: 1 threads" in first
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        output = proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        proc.stdout.close()
    assert "notify.deliver" in output and "Consumer exiting" in output


def test_the_worker_delivers_in_its_own_threads(make_app, caplog):
    """Sending happens on a worker thread, never on the thread that handled the request."""
    import threading

    caplog.set_level("INFO", logger="service.notify.deliveries")
    with receiver(secret=SECRET) as moderators:
        app = make_app(WEBHOOKS=[pending_hook(moderators.url)])
        with running_worker(app):
            response = app.test_client().post(
                "/api/v1/articles/67584/comments",
                json=solved_comment(app, "看看是哪个线程发送的"),
            )
            moderators.wait_for(1)
            wait_until(lambda: delivered_records(caplog), what="the delivery's log line")

    assert response.status_code == 202
    [record] = delivered_records(caplog)
    assert record.threadName.startswith("Worker-")
    assert record.threadName != threading.current_thread().name


def delivered_records(caplog) -> list:
    return [r for r in caplog.records if r.getMessage().endswith("delivered")]


def solved_comment(app, body: str) -> dict:
    client = app.test_client()
    token = client.get("/captcha").get_json()["token"]
    with app.app_context():
        answer = captcha.answer_for(captcha.nonce_of(token))
    return {"body": body, "captcha_token": token, "captcha_answer": answer}
