#!/usr/bin/env python3
"""What notifications cost the request that causes them, measured.

Three measurements, all on 127.0.0.1, stopping by themselves:

1. **Enqueue**: one ``deliver`` job put on the queue (what a request does after
   its commit), on each storage: huey's SQLite file and Redis.
2. **Approve**: ``moderation.apply(approve)`` on a SQLite database with 0, 1
   and 3 webhooks subscribed to ``article.count_changed`` (each subscriber is one
   more row inserted in the same transaction, plus one enqueue after it).
3. **Reader's POST** through the Flask test client, a worker running in threads
   and receivers that take ``--receiver-delay`` seconds to answer: under
   pre-moderation without and with a webhook for the moderators' digest (the
   POST asks for a digest run, at most once a second), and under
   post-moderation without and with a webhook for the count (the POST stores a
   notification and queues it). The POST must not feel the receivers.

Prints medians and 95th/99th percentiles in milliseconds. Example::

    /work/main/.venv/bin/python scripts/bench_notify.py --runs 300
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from flask_migrate import upgrade  # noqa: E402
from notify_helpers import ThreadWorker  # noqa: E402

from service import captcha, create_app, moderation  # noqa: E402
from service.articles import ensure_article  # noqa: E402
from service.extensions import db  # noqa: E402
from service.jobs import queue_of  # noqa: E402
from service.models import Comment, Status  # noqa: E402
from service.moderation import Action  # noqa: E402

SECRET = "bench-shared-secret-0123456789"


def summary(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    p99 = ms[int(len(ms) * 0.99) - 1]
    return f"median {statistics.median(ms):7.3f}  p95 {p95:7.3f}  p99 {p99:7.3f}  (n={len(ms)})"


class SlowReceiver:
    """Answers 200 after ``delay`` seconds; counts what it got."""

    def __init__(self, delay: float) -> None:
        self.count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(delay)
                outer.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_app(workdir: Path, name: str, **settings: object):
    database = workdir / f"{name}.db"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": SECRET,
            "DATABASE_URL": f"sqlite:///{database}",
            "JOBS_URL": settings.pop("JOBS_URL", f"sqlite:///{workdir / (name + '-jobs.db')}"),
            "RATELIMIT_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "PUBLIC_URL": "http://localhost",
            **settings,
        }
    )
    with app.app_context():
        upgrade()
    return app


def hooks(count: int, url: str) -> list[dict]:
    return [
        {
            "url": url,
            "kind": "generic",
            "secret": SECRET,
            "events": ["article.count_changed"],
            "name": f"portal{n}",
        }
        for n in range(count)
    ]


def interleaved(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Time each action ``runs`` times, taking turns, so a busy machine slows all alike.

    An action that returns a float has timed itself (its preparation left out)."""
    samples: dict[str, list[float]] = {label: [] for label in actions}
    for _ in range(runs):
        for label, action in actions.items():
            start = time.perf_counter()
            result = action()
            elapsed = time.perf_counter() - start
            samples[label].append(result if isinstance(result, float) else elapsed)
    return samples


def report(samples: dict[str, list[float]]) -> None:
    for label, values in samples.items():
        print(f"   {label:16s} {summary(values)}")


def bench_enqueue(workdir: Path, runs: int, redis_url: str) -> None:
    print("1. enqueue one deliver job (what a request does after its commit)")
    actions = {}
    queues = []
    storages = {"SQLite file": f"sqlite:///{workdir / 'enqueue-jobs.db'}", "Redis": redis_url}
    for label, url in storages.items():
        try:
            app = make_app(workdir, "enqueue-" + label.split()[0].lower(), JOBS_URL=url)
            queue = queue_of(app)
            queue.huey.flush()
        except Exception as error:  # noqa: BLE001 - report and go on
            print(f"   {label:16s} unavailable: {type(error).__name__}: {error}")
            continue
        queues.append(queue)
        actions[label] = lambda q=queue: q.tasks.deliver(1)
    report(interleaved(actions, runs))
    for queue in queues:
        queue.huey.flush()


def bench_approve(workdir: Path, runs: int) -> None:
    print("2. moderation.apply(approve) on SQLite, by count_changed subscribers")
    actions = {}
    for subscribers in (0, 1, 3):
        app = make_app(
            workdir, f"approve{subscribers}", WEBHOOKS=hooks(subscribers, "http://127.0.0.1:9/")
        )
        with app.app_context():
            article = ensure_article("67584")
            comments = [
                Comment(article=article, author="网友", body=f"第{n}条", status="pending")
                for n in range(runs)
            ]
            db.session.add_all(comments)
            db.session.commit()
            ids = iter([comment.id for comment in comments])

        def approve(app=app, ids=ids) -> None:
            with app.test_request_context():
                moderation.apply(next(ids), Action.APPROVE)

        actions[f"{subscribers} subscribers"] = approve
    report(interleaved(actions, runs))


def bench_post(workdir: Path, runs: int, delay: float) -> None:
    print(f"3. reader's POST, receivers answering after {delay:g} s, a worker running")
    receiver = SlowReceiver(delay)
    pending_hook = {**hooks(1, receiver.url)[0], "events": ["comment.pending"]}
    setups = {
        "pre, no hook": ("pre", []),
        "pre, digest hook": ("pre", [pending_hook]),
        "post, no hook": ("post", []),
        "post, count hook": ("post", hooks(1, receiver.url)),
    }
    workers = []
    actions = {}
    try:
        for n, (label, (mode, webhooks)) in enumerate(setups.items()):
            app = make_app(
                workdir,
                f"post{n}",
                WEBHOOKS=webhooks,
                MODERATION_MODE=mode,
                NOTIFY_TIMEOUT=max(delay * 2, 5),
                DIGEST_MINUTES=1,
            )
            worker = ThreadWorker(
                queue_of(app).consumer_huey(),
                workers=4,
                periodic=False,
                max_delay=0.05,
                check_worker_health=False,
            )
            worker.start()
            workers.append(worker)
            actions[label] = poster(app, Status.PENDING if mode == "pre" else Status.APPROVED)
        report(interleaved(actions, runs))
        print(f"   the receiver had answered {receiver.count} requests while the POSTs ran")
    finally:
        for worker in workers:
            worker.stop(graceful=True)
        receiver.stop()


def poster(app, expected: Status) -> Callable[[], float]:
    """One reader's POST per call; the captcha is fetched and solved outside the timing."""
    client = app.test_client()
    counter = iter(range(10**9))
    prepared: list[dict] = []

    def prepare() -> None:
        token = client.get("/captcha").get_json()["token"]
        with app.app_context():
            answer = captcha.answer_for(captcha.nonce_of(token))
        body = f"基准测试评论{next(counter)}"
        prepared.append({"body": body, "captcha_token": token, "captcha_answer": answer})

    prepare()

    def post() -> float:
        start = time.perf_counter()
        response = client.post("/api/v1/articles/67584/comments", json=prepared.pop())
        elapsed = time.perf_counter() - start
        assert response.status_code == 202, response.get_data(as_text=True)
        with app.app_context():
            stored = db.session.get(Comment, response.get_json()["id"])
            assert stored is not None and stored.status == expected
        prepare()
        return elapsed

    return post


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="samples per configuration")
    parser.add_argument("--receiver-delay", type=float, default=2.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    try:
        bench_enqueue(workdir, args.runs * 5, args.redis_url)
        bench_approve(workdir, args.runs)
        bench_post(workdir, args.runs, args.receiver_delay)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
