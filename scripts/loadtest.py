#!/usr/bin/env python3
"""Load test on two instances: readers post, moderators work the queue, nothing is lost.

Starts two gunicorn instances on one database (or uses two given with --url),
then ``--clients`` readers each loop: GET /captcha, POST a comment with a unique
Chinese body, switching instances as they go (captcha from one, post to either),
while ``--moderators`` CMS clients page through the pending queue through the
moderation API and approve or reject what they see, also switching instances.

Afterwards it checks, and exits 1 unless all hold:

* every 202 id is in the database exactly once, with the body that was sent,
  and the database holds no comment of this run that was not answered 202;
* every submission was answered 202 (none lost, none left undone at --timeout);
* no 5xx and no broken connection, anywhere;
* every moderation action answered 200 left the comment in that state, no
  comment was moved twice by the same action, and every article's public
  count equals its approved comments (in the database and on both instances);
* the instances' logs have no "database is locked", worker timeout, traceback
  or ERROR line.

Examples::

    .venv/bin/python scripts/loadtest.py --backend sqlite --workers 4
    .venv/bin/python scripts/loadtest.py --backend postgresql --submissions 5000 --clients 16
    .venv/bin/python scripts/loadtest.py --url http://127.0.0.1:8001 --url http://127.0.0.1:8002 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1/comments --token cmt_...
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import instances  # noqa: E402 - helpers shared with tests/test_instances.py

PHRASES = [
    "这篇报道写得很详细，感谢记者的辛勤工作。",
    "希望有关部门尽快落实相关政策，让老百姓早日受益。",
    "支持！期待后续的深入报道。",
    "政务服务越来越方便了，点赞。",
    "请问具体的办理流程在哪里可以查到？",
    "家门口的路终于要修了，盼望早日通车。",
    "数据很有说服力，建议多做一些图表解读。",
    "关注中，希望能听到更多基层群众的声音。",
]
LOG_PROBLEMS = {
    "database is locked": "database is locked",
    "WORKER TIMEOUT": "worker timeout",
    "Traceback (most recent call last)": "traceback",
    '"level": "ERROR"': "ERROR log line",
    '"level": "CRITICAL"': "CRITICAL log line",
}
# What a client thread records and survives (a broken connection, a torn response).
CLIENT_ERRORS = (OSError, http.client.HTTPException, ValueError, KeyError)
PG_DATABASE = "comments_scale_load"
REDIS_URL = "redis://127.0.0.1:6379/6"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="use running instances instead of starting two (give it twice)",
    )
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL to verify against (with --url); for postgresql: use it "
        f"instead of recreating {PG_DATABASE!r}",
    )
    parser.add_argument("--token", help="moderation API token (with --url)")
    parser.add_argument("--log", action="append", default=[], help="log file to check (--url)")
    parser.add_argument("--submissions", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--moderators", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per instance")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS (default: gunicorn.conf.py)")
    parser.add_argument("--articles", type=int, default=20, help="articles to spread comments on")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the load phase")
    parser.add_argument("--redis-url", default=REDIS_URL, help="Redis for the postgresql backend")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.url and len(args.url) != 2:
        parser.error("give --url exactly twice (instance A and instance B)")
    if args.url and not args.database_url:
        parser.error("--url needs --database-url to verify what was stored")
    if args.submissions < 1 or args.clients < 1 or args.moderators < 0 or args.workers < 1:
        parser.error("--submissions, --clients and --workers must be positive")
    return args


# --- what the clients saw --------------------------------------------------------------


@dataclass
class Outcomes:
    """Everything the clients observed; merged from all threads under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    accepted: dict[int, str] = field(default_factory=dict)  # comment id -> body sent
    duplicate_ids: list[int] = field(default_factory=list)
    refused: list[tuple[int, int, str]] = field(default_factory=list)  # (n, status, body)
    post_latencies: list[float] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)  # time.monotonic() of each 202
    captcha_latencies: list[float] = field(default_factory=list)
    mod_queue_latencies: list[float] = field(default_factory=list)
    mod_action_latencies: list[float] = field(default_factory=list)
    mod_done: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    mod_conflicts: int = 0
    mod_pages: int = 0

    def status(self, kind: str, code: int) -> None:
        with self.lock:
            self.statuses[kind][code] += 1

    def error(self, kind: str, error: BaseException) -> None:
        with self.lock:
            self.errors[f"{kind}: {type(error).__name__}"] += 1
            if len(self.error_examples) < 10:
                self.error_examples.append(f"{kind}: {error!r}")

    def fivexx(self) -> int:
        return sum(n for counts in self.statuses.values() for s, n in counts.items() if s >= 500)


class Plan:
    """Hands out submission numbers 0..N-1 until done or past the deadline."""

    def __init__(self, total: int, deadline: float) -> None:
        self.total = total
        self.deadline = deadline
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self.timed_out = False

    def next(self) -> int | None:
        if time.monotonic() >= self.deadline:
            self.timed_out = True
            return None
        with self._lock:
            number = next(self._numbers)
        return number if number < self.total else None


def body_for(marker: str, number: int) -> str:
    return f"{PHRASES[number % len(PHRASES)]}（第{number}条评论，编号{marker}-{number}）"


def reader(index: int, urls: list[str], plan: Plan, out: Outcomes, marker: str, articles: int):
    """GET /captcha then POST a comment, switching instances: AA, BA, AB, BB, ..."""
    with instances.Client() as client:
        for turn in itertools.count():
            number = plan.next()
            if number is None:
                return
            captcha_url = urls[(index + turn) % len(urls)]
            post_url = urls[(index + turn // 2) % len(urls)]
            try:
                got = client.request(captcha_url, "GET", "/captcha")
            except CLIENT_ERRORS as error:
                out.error("GET /captcha", error)
                continue
            out.status("GET /captcha", got.status)
            if got.status != 200:
                with out.lock:
                    out.refused.append(
                        (number, got.status, got.body[:200].decode(errors="replace"))
                    )
                continue
            with out.lock:
                out.captcha_latencies.append(got.elapsed)
            article = f"load-{number % articles}"
            body = body_for(marker, number)
            try:
                payload = {
                    "author": f"读者{index}",
                    "body": body,
                    "title": f"压力测试文章 {number % articles}",
                    "captcha_token": got.json()["token"],
                    "captcha_answer": "PASSED",
                }
                posted = client.request(
                    post_url, "POST", f"/api/v1/articles/{article}/comments", payload
                )
            except CLIENT_ERRORS as error:
                out.error("POST comment", error)
                continue
            out.status("POST comment", posted.status)
            try:
                comment_id = posted.json()["id"] if posted.status == 202 else None
            except CLIENT_ERRORS as error:
                out.error("POST comment answer", error)
                continue
            with out.lock:
                out.post_latencies.append(posted.elapsed)
                if comment_id is not None:
                    if comment_id in out.accepted:
                        out.duplicate_ids.append(comment_id)
                    out.accepted[comment_id] = body
                    out.accepted_at.append(time.monotonic())
                else:
                    text = posted.body[:200].decode(errors="replace")
                    out.refused.append((number, posted.status, text))


def decision(comment_id: int, moderator: int, moderators: int) -> str | None:
    """Who acts on what: each moderator on its share; both approve every 10th (a race)."""
    if comment_id % 10 == 0:
        return "approve"
    if comment_id % moderators != moderator:
        return None
    return "reject" if comment_id % 3 == 0 else "approve"


def moderator(
    index: int,
    count: int,
    urls: list[str],
    token: str,
    done: threading.Event,
    out: Outcomes,
    marker: str,
):
    """Page through the pending queue and act on what is seen, switching instances."""
    headers = {"Authorization": f"Bearer {token}"}
    turn = itertools.count(index)
    page = 1
    rng = random.Random(index)
    with instances.Client() as client:
        while not done.is_set():
            url = urls[next(turn) % len(urls)]
            query = urlencode({"status": "pending", "page": page})
            try:
                listed = client.request(url, "GET", f"/api/v1/mod/comments?{query}", None, headers)
            except CLIENT_ERRORS as error:
                out.error("GET mod queue", error)
                time.sleep(0.1)
                continue
            out.status("GET mod queue", listed.status)
            if listed.status != 200:
                time.sleep(0.1)
                continue
            try:
                data = listed.json()
                page = page + 1 if page < data["pages"] else 1
                seen = [c for c in data["comments"] if marker in c["body"]]
            except CLIENT_ERRORS as error:
                out.error("GET mod queue answer", error)
                continue
            with out.lock:
                out.mod_pages += 1
                out.mod_queue_latencies.append(listed.elapsed)
            rng.shuffle(seen)
            acted = 0
            for comment in seen:
                if done.is_set():
                    break
                action = decision(comment["id"], index, count)
                if action is None:
                    continue
                acted += 1
                url = urls[next(turn) % len(urls)]
                path = f"/api/v1/mod/comments/{comment['id']}/{action}"
                try:
                    result = client.request(url, "POST", path, None, headers)
                except CLIENT_ERRORS as error:
                    out.error("POST mod action", error)
                    continue
                out.status("POST mod action", result.status)
                try:
                    moved_to = result.json()["status"] if result.status == 200 else None
                except CLIENT_ERRORS as error:
                    out.error("POST mod action answer", error)
                    continue
                with out.lock:
                    out.mod_action_latencies.append(result.elapsed)
                    if moved_to is not None:
                        out.mod_done[comment["id"]].append(moved_to)
                    elif result.status == 409:
                        out.mod_conflicts += 1
            if not acted:
                time.sleep(0.05)


# --- the run ----------------------------------------------------------------------------


@dataclass
class Setup:
    urls: list[str]
    database_url: str
    token: str | None
    started: list[instances.Instance]
    logs: list[Path]
    workdir: Path | None


def start_instances(
    args: argparse.Namespace, workdir: Path, started: list[instances.Instance]
) -> Setup:
    """Fresh database, moderator token, two instances (appended to ``started`` at once)."""
    secret = instances.new_secret_key()
    redis_url = None
    if args.backend == "sqlite":
        database_url = f"sqlite:///{workdir / 'comments.db'}"
    else:
        for problem in (instances.postgres_problem(), instances.redis_problem(args.redis_url)):
            if problem:
                raise SystemExit(problem)
        database_url = args.database_url or instances.recreate_postgres_database(PG_DATABASE)
        redis_url = args.redis_url
        instances.flush_redis(redis_url)
    env = instances.service_env(
        SECRET_KEY=secret,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CAPTCHA_TEST_MODE=True,
        RATELIMIT_ENABLED=False,
        LOG_JSON=True,
    )
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    instances.migrate(env)
    for name in "AB":
        instance = instances.Instance(name, env, workdir / "logs", workers=args.workers)
        started.append(instance)
        instance.start()
    # While the instances boot.
    token = instances.add_moderator_token(env) if args.moderators else None
    for instance in started:
        health = instance.wait_healthy()
        if not health.get("captcha_test_mode"):
            raise SystemExit(f"instance {instance.name} is not in captcha test mode: {health}")
    return Setup([i.url for i in started], database_url, token, started, [], workdir)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def quarter_rate(times: list[float], started: float, first: bool) -> str:
    """Accepted submissions per second in the first or the last quarter of them."""
    ordered = sorted(times)
    quarter = len(ordered) // 4
    if quarter < 2:
        return "-"
    if first:
        span = ordered[quarter - 1] - started
    else:
        span = ordered[-1] - ordered[-quarter - 1]
    return f"{quarter / span:.1f}" if span > 0 else "-"


def ms(values: list[float], fraction: float) -> str:
    return f"{percentile(values, fraction) * 1000:.0f} ms" if values else "-"


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def text(self) -> str:
        verdict = ["RESULT: PASS"] if self.ok else ["RESULT: FAIL", *self.failures]
        return "\n".join([*self.lines, *verdict])


def verify_database(database_url: str, marker: str, out: Outcomes, report: Report) -> dict:
    """Compare what was answered 202 with what is stored; check moderation and counts."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, body, status, deleted_at FROM comment WHERE body LIKE :m"),
                {"m": f"%编号{marker}-%"},
            ).all()
            articles = conn.execute(
                text(
                    "SELECT a.key, a.approved_count, (SELECT count(*) FROM comment c"
                    " WHERE c.article_id = a.id AND c.status = 'approved'"
                    " AND c.deleted_at IS NULL) FROM article a WHERE a.key LIKE 'load-%'"
                )
            ).all()
    finally:
        engine.dispose()
    stored_ids = Counter(row.id for row in rows)
    stored_bodies = Counter(row.body for row in rows)
    by_id = {row.id: row for row in rows}
    accepted = out.accepted
    missing = sorted(set(accepted) - set(by_id))
    phantom = sorted(set(by_id) - set(accepted))
    wrong_body = sorted(i for i in set(accepted) & set(by_id) if by_id[i].body != accepted[i])
    twice_ids = sorted(i for i, n in stored_ids.items() if n > 1)
    twice_bodies = sum(1 for n in stored_bodies.values() if n > 1)
    report.lines.append(
        f"database: {len(rows)} comments of this run, {len(accepted)} answered 202; "
        f"missing {len(missing)}, unanswered extra {len(phantom)}, wrong body "
        f"{len(wrong_body)}, ids twice {len(twice_ids)}, bodies twice {twice_bodies}"
    )
    if missing or phantom or wrong_body or twice_ids or twice_bodies or out.duplicate_ids:
        report.failures.append(
            f"LOSS/DUPLICATION: missing ids {missing[:10]}, extra ids {phantom[:10]}, "
            f"wrong bodies {wrong_body[:10]}, ids twice {twice_ids[:10]}, "
            f"bodies twice {twice_bodies}, ids answered twice {out.duplicate_ids[:10]}"
        )
    # Moderation: a 200 left the comment where it said; never two wins for one approve.
    double = sorted(i for i, done in out.mod_done.items() if len(done) > 1)
    mismatched = sorted(
        i
        for i, done in out.mod_done.items()
        if len(done) == 1 and i in by_id and by_id[i].status != done[0]
    )
    statuses = Counter(row.status for row in rows)
    report.lines.append(
        "stored statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    )
    if double or mismatched:
        report.failures.append(
            f"MODERATION: comments moved twice {double[:10]}, status differs from the "
            f"answer {mismatched[:10]}"
        )
    drift = [(key, counted, actual) for key, counted, actual in articles if counted != actual]
    if drift:
        report.failures.append(f"COUNTS: article approved_count drifted: {drift[:10]}")
    return {key: actual for key, _, actual in articles}


def verify_counts_api(urls: list[str], expected: dict[str, int], report: Report) -> None:
    """GET /api/v1/counts on every instance equals the database."""
    if not expected:
        return
    query = urlencode([("article", key) for key in sorted(expected)])
    for url in urls:
        response = instances.request(url, "GET", f"/api/v1/counts?{query}")
        counts = response.json().get("counts") if response.status == 200 else None
        if counts != expected:
            report.failures.append(
                f"COUNTS: {url}/api/v1/counts answered {response.status} {counts}, "
                f"database says {expected}"
            )


def check_logs(paths: list[Path], report: Report) -> None:
    found: Counter[str] = Counter()
    examples: list[str] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            for needle, label in LOG_PROBLEMS.items():
                if needle.lower() in line.lower():
                    found[label] += 1
                    if len(examples) < 5:
                        examples.append(f"{path.name}: {line[:300]}")
    report.lines.append(
        "logs: "
        + (
            ", ".join(f"{label} {n}" for label, n in sorted(found.items()))
            if found
            else f"clean ({len(paths)} files, no lock/timeout/traceback/ERROR)"
        )
    )
    if found:
        report.failures.append("LOGS: " + "; ".join(examples))


def run(args: argparse.Namespace) -> Report:
    report = Report()
    script_started = time.monotonic()
    workdir = None if args.url else Path(tempfile.mkdtemp(prefix="comments-load-"))
    setup: Setup | None = None
    started: list[instances.Instance] = []
    marker = "LT" + secrets.token_hex(4)
    out = Outcomes()
    try:
        if args.url:
            setup = Setup(
                list(args.url), args.database_url, args.token, [], [Path(p) for p in args.log], None
            )
        else:
            assert workdir is not None
            setup = start_instances(args, workdir, started)
        setup_seconds = time.monotonic() - script_started

        plan = Plan(args.submissions, time.monotonic() + args.timeout)
        done = threading.Event()
        readers = [
            threading.Thread(
                target=reader,
                args=(i, setup.urls, plan, out, marker, args.articles),
                name=f"reader-{i}",
            )
            for i in range(args.clients)
        ]
        moderators = []
        if setup.token and args.moderators:
            moderators = [
                threading.Thread(
                    target=moderator,
                    args=(i, args.moderators, setup.urls, setup.token, done, out, marker),
                    name=f"moderator-{i}",
                )
                for i in range(args.moderators)
            ]
        load_started = time.monotonic()
        for thread in readers + moderators:
            thread.start()
        for thread in readers:
            thread.join(args.timeout + 120)
        elapsed = time.monotonic() - load_started
        done.set()
        for thread in moderators:
            thread.join(120)
        stuck = [t.name for t in readers + moderators if t.is_alive()]
        if stuck:
            report.failures.append(f"HUNG: client threads still running: {stuck}")

        accepted = len(out.accepted)
        posts = sorted(out.post_latencies)
        report.lines += [
            f"== load test: {len(setup.urls)} instances, backend "
            f"{'(given)' if args.url else args.backend}, workers/instance "
            f"{'-' if args.url else args.workers}, clients {args.clients}, moderators "
            f"{len(moderators)}, submissions {args.submissions} ==",
            f"setup (migrate, moderator, start instances): {setup_seconds:.1f} s",
            f"submissions accepted (202): {accepted} of {args.submissions}",
            f"elapsed (load phase): {elapsed:.1f} s",
            f"accepted submissions per second: {accepted / elapsed:.1f}",
            f"throughput: first quarter {quarter_rate(out.accepted_at, load_started, True)}/s, "
            f"last quarter {quarter_rate(out.accepted_at, load_started, False)}/s",
            f"POST latency: p50 {ms(posts, 0.50)}, p95 {ms(posts, 0.95)}, "
            f"max {ms(posts, 1.0)}"
            + (f", mean {statistics.fmean(posts) * 1000:.0f} ms" if posts else ""),
            f"GET /captcha latency: p50 {ms(out.captcha_latencies, 0.5)}, "
            f"p95 {ms(out.captcha_latencies, 0.95)}",
            f"moderation actions done (200): {sum(len(v) for v in out.mod_done.values())}, "
            f"lost races (409): {out.mod_conflicts}, queue pages read: {out.mod_pages}",
            f"moderation API latency: queue page p50 {ms(out.mod_queue_latencies, 0.5)}, "
            f"p95 {ms(out.mod_queue_latencies, 0.95)}; action p50 "
            f"{ms(out.mod_action_latencies, 0.5)}, p95 {ms(out.mod_action_latencies, 0.95)}",
            "statuses: "
            + "; ".join(
                f"{kind}: " + ", ".join(f"{code}×{n}" for code, n in sorted(counts.items()))
                for kind, counts in sorted(out.statuses.items())
            ),
            "connection errors: "
            + (", ".join(f"{k} {n}" for k, n in sorted(out.errors.items())) or "none"),
        ]
        if plan.timed_out:
            report.failures.append(f"TIMEOUT: load phase stopped at --timeout {args.timeout} s")
        if accepted != args.submissions:
            report.failures.append(
                f"NOT ACCEPTED: {args.submissions - accepted} submissions were not answered "
                f"202; first refusals: {out.refused[:5]}"
            )
        if out.fivexx():
            report.failures.append(f"5XX: {out.fivexx()} responses with status >= 500")
        if out.errors:
            report.failures.append(f"CONNECTIONS: {dict(out.errors)}; {out.error_examples[:3]}")

        expected = verify_database(setup.database_url, marker, out, report)
        verify_counts_api(setup.urls, expected, report)
    finally:
        instances.stop_all(started)
    if started:
        check_logs([p for i in started for p in i.log_paths], report)
    elif setup.logs:
        check_logs(setup.logs, report)
    report.lines.append(f"total duration: {time.monotonic() - script_started:.1f} s")
    if workdir is not None:
        if report.ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            report.lines.append(f"logs and database kept in {workdir}")
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print(report.text(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
