"""What operators see: Prometheus metrics at /metrics and JSON log lines with request ids.

In process with the conftest apps (one metrics registry per app, the submission
and captcha counters shared by the process), except the multi-process metrics,
which need gunicorn with several workers and PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import solve
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from tcp_proxy import Gunicorn, clean_environ, fetch

from service.extensions import db
from service.models import Comment, Status

ARTICLE = "67584"
OTHER_ARTICLE = "zcjh.zhengwu-2024_7"
LATENCY = "comments_http_request_duration_seconds"
IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metrics_app(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """An app with in-process metrics (not the multi-process files)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return make_app()


def scrape_text(client_or_port: FlaskClient | int) -> str:
    if isinstance(client_or_port, int):
        reply = fetch(client_or_port, "GET", "/metrics")
        assert reply.status == 200
        content_type = reply.headers.get("Content-Type", "")
        text = reply.text
    else:
        response = client_or_port.get("/metrics")
        assert response.status_code == 200
        content_type = response.headers.get("Content-Type", "")
        text = response.get_data(as_text=True)
    assert content_type.startswith("text/plain"), content_type
    return text


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition (the parser rejects anything else)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric over every label set that includes ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def post(client: FlaskClient, body: str, *, right: bool = True, **kwargs: Any) -> int:
    token, answer = solve(client)
    payload = {"body": body, "captcha_token": token, "captcha_answer": answer if right else "X"}
    payload.update(kwargs.pop("fields", {}))
    return client.post(f"/api/v1/articles/{ARTICLE}/comments", json=payload, **kwargs).status_code


# --- /metrics ------------------------------------------------------------------------------


def test_latency_is_labelled_by_url_rule_never_by_concrete_path(metrics_app, make_comment):
    client = metrics_app.test_client()
    comment_id = make_comment(article=ARTICLE)
    client.get(f"/embed/{ARTICLE}")
    client.get(f"/embed/{OTHER_ARTICLE}")
    client.get(f"/api/v1/articles/{ARTICLE}/comments")
    client.post(f"/api/v1/articles/{ARTICLE}/comments/{comment_id}/like", json={})
    client.get(f"/embed/{ARTICLE}/report/{comment_id}")
    client.get(f"/embed/{ARTICLE}/report/987654321")
    client.get("/no/such/path-4242")

    samples = parse(scrape_text(client))

    rules = {dict(ls).get("url_rule") for (n, ls) in samples if n == f"{LATENCY}_count"}
    assert total(samples, f"{LATENCY}_count", url_rule="/embed/<article>") == 2
    assert "/api/v1/articles/<article>/comments/<int:comment_id>/like" in rules
    assert total(samples, f"{LATENCY}_count", url_rule="/embed/<article>/report/<int:comment_id>")
    concrete = (ARTICLE, OTHER_ARTICLE, f"/{comment_id}", "987654321", "4242")
    for name, labels in samples:
        for key, value in labels:
            if key != "le":
                assert not any(c in value for c in concrete), (name, key, value)


def test_submissions_and_captchas_are_counted_by_outcome(metrics_app):
    client = metrics_app.test_client()
    before = parse(scrape_text(client))

    assert post(client, "一条正常的评论") == 202
    assert post(client, "", right=False) == 422  # empty text: the captcha is not looked at
    assert post(client, "字段正确", right=False) == 422  # a wrong answer
    after = parse(scrape_text(client))

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("comments_submitted_total", outcome="pending") == 1
    assert delta("comments_submitted_total", outcome="invalid") == 2
    assert delta("captcha_total", event="issued") == 3
    assert delta("captcha_total", event="solved") == 1
    assert delta("captcha_total", event="failed") == 1


def test_pending_gauges_match_the_database(metrics_app, make_comment):
    client = metrics_app.test_client()
    oldest = make_comment(status=Status.PENDING, body="最早的待审评论")
    make_comment(status=Status.PENDING, body="第二条待审")
    make_comment(status=Status.PENDING, body="第三条待审")
    withdrawn = make_comment(status=Status.PENDING, body="作者撤回的")
    make_comment(status=Status.APPROVED, body="已通过的")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with metrics_app.app_context():
        db.session.get(Comment, oldest).created_at = hour_ago
        db.session.get(Comment, withdrawn).created_at = hour_ago - timedelta(hours=1)
        db.session.get(Comment, withdrawn).deleted_at = datetime.now(UTC)
        db.session.commit()
        in_db, first = db.session.execute(
            select(func.count(Comment.id), func.min(Comment.created_at)).where(
                Comment.status == Status.PENDING, Comment.deleted_at.is_(None)
            )
        ).one()
        db.session.remove()

    samples = parse(scrape_text(client))

    assert in_db == 3
    assert samples[("comments_pending", frozenset())] == in_db
    age = samples[("comments_pending_oldest_age_seconds", frozenset())]
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    expected = (datetime.now(UTC) - first).total_seconds()
    assert abs(age - expected) < 30 and 3500 < age < 3700, (age, expected)


def test_metrics_never_contain_addresses_nicknames_or_comment_text(metrics_app, make_comment):
    client = metrics_app.test_client()
    nickname = f"观测者{secrets.token_hex(2)}"
    body = f"一段独特的评论正文 {secrets.token_hex(4)}"
    address = "198.51.100.77"
    target = make_comment(article=ARTICLE)
    assert (
        post(
            client,
            body,
            fields={"author": nickname},
            environ_base={"REMOTE_ADDR": address},
            headers={"X-Forwarded-For": "203.0.113.5", "User-Agent": "ObservabilityTest/1.0"},
        )
        == 202
    )
    client.post(
        f"/api/v1/articles/{ARTICLE}/comments/{target}/like",
        json={},
        environ_base={"REMOTE_ADDR": address},
    )
    client.post(
        f"/embed/{ARTICLE}/report/{target}",
        data={"reason": "spam"},
        environ_base={"REMOTE_ADDR": address},
    )

    text = scrape_text(client)

    parse(text)
    for secret in (nickname, body, body.split()[-1], address, "203.0.113.5", "ObservabilityTest"):
        assert secret not in text
    assert not IPV4.findall(text), IPV4.findall(text)[:5]


# --- logs ------------------------------------------------------------------------------------


@pytest.fixture
def log_lines(metrics_app: Flask) -> Iterator[io.StringIO]:
    """What the app's JSON handler writes, captured by a twin handler on the root logger."""
    root = logging.getLogger()
    original = next((h for h in root.handlers if h.get_name() == "comments-json"), None)
    assert original is not None and original.formatter is not None, "no JSON log handler"
    buffer = io.StringIO()
    twin = logging.StreamHandler(buffer)
    twin.setFormatter(original.formatter)
    for log_filter in original.filters:
        twin.addFilter(log_filter)
    root.addHandler(twin)
    try:
        yield buffer
    finally:
        root.removeHandler(twin)
        twin.close()


def lines_of(buffer: io.StringIO) -> list[dict[str, Any]]:
    records = []
    for line in buffer.getvalue().splitlines():
        record = json.loads(line)  # one JSON object a line, nothing else
        assert isinstance(record, dict), line
        records.append(record)
    buffer.seek(0)
    buffer.truncate()
    return records


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("edge-7f3a9c1e.20241128", True),
        ("0123456789abcdef0123456789abcdef", True),
        ("has spaces in it", False),
        ("x" * 200, False),
        ("short", False),
        ("a/b\\c;d<e>f\"g'h", False),
        (None, False),
    ],
    ids=["proxy-id", "hex", "spaces", "200-chars", "too-short", "punctuation", "none"],
)
def test_every_log_line_of_a_request_is_json_with_its_request_id(
    metrics_app, make_app, log_lines, incoming, kept
):
    client = metrics_app.test_client()
    broken = make_app(DATABASE_URL="sqlite:////nonexistent-directory/comments.db").test_client()
    headers = {"X-Request-ID": incoming} if incoming is not None else {}

    # A form without its CSRF token (logged by Flask-WTF) and a database that is not there.
    for requester, status in [
        (lambda: client.post("/mod/login", data={"username": "x"}, headers=headers), 400),
        (lambda: broken.get(f"/api/v1/counts?article={ARTICLE}", headers=headers), 503),
    ]:
        response = requester()
        assert response.status_code == status
        request_id = response.headers.get("X-Request-ID")
        assert request_id and REQUEST_ID.fullmatch(request_id)
        assert (request_id == incoming) is kept
        records = lines_of(log_lines)
        assert records, f"nothing was logged for the {status}"
        for record in records:
            assert record.get("request_id") == request_id, record
            assert {"time", "level", "logger", "message"} <= set(record)
    assert any(r["level"] == "ERROR" for r in records)


def test_every_response_names_its_request(metrics_app):
    client = metrics_app.test_client()
    seen = set()
    for path in ("/healthz", f"/embed/{ARTICLE}", "/captcha", "/no-such-page", "/metrics"):
        request_id = client.get(path).headers.get("X-Request-ID")
        assert request_id and REQUEST_ID.fullmatch(request_id), path
        seen.add(request_id)
    assert len(seen) == 5


# --- several gunicorn workers ------------------------------------------------------------


def test_metrics_add_up_across_gunicorn_workers(tmp_path):
    multiproc = tmp_path / "prometheus"
    env = clean_environ(
        COMMENTS_SECRET_KEY=secrets.token_hex(32),
        COMMENTS_DATABASE_URL=f"sqlite:///{tmp_path}/metrics.db",
        COMMENTS_RATELIMIT_ENABLED="false",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    server = Gunicorn(env, tmp_path, workers=2)
    try:
        assert server.wait_healthy().status == 200, server.stderr
        baseline = parse(scrape_text(server.port))
        by_worker: dict[int, int] = {}
        sent = 0
        while sent < 20 or (len(by_worker) < 2 and sent < 200):
            reply = fetch(server.port, "GET", "/healthz", find_worker=server.worker_serving)
            assert reply.status == 200
            assert fetch(server.port, "GET", "/captcha").status == 200
            sent += 1
            if reply.worker is not None:
                by_worker[reply.worker] = by_worker.get(reply.worker, 0) + 1
        request_id = f"multiproc-{secrets.token_hex(6)}"
        refused = fetch(
            server.port,
            "POST",
            "/mod/login",
            form={"username": "x"},
            headers={"X-Request-ID": request_id},
        )
        assert refused.status == 400
        samples = parse(scrape_text(server.port))
    finally:
        server.stop()

    assert len(by_worker) == 2, f"one worker answered everything: {by_worker}"
    healthz = total(samples, f"{LATENCY}_count", url_rule="/healthz")
    healthz_before = total(baseline, f"{LATENCY}_count", url_rule="/healthz")
    assert healthz - healthz_before >= sent >= 20, (healthz, healthz_before, by_worker)
    captchas = total(samples, f"{LATENCY}_count", url_rule="/captcha")
    assert captchas >= sent
    issued = total(samples, "captcha_total", event="issued")
    assert issued >= sent, f"captcha_total{{issued}} is {issued} after {sent} captchas"

    # The same lines under gunicorn: JSON, with the request's id.
    records = [json.loads(line) for line in server.stderr.splitlines() if line.strip()]
    mine = [r for r in records if r.get("request_id") == request_id]
    assert mine and all(r["logger"] == "flask_wtf.csrf" for r in mine), records[-5:]
    assert f"rid={request_id}" in server.stdout
