"""Prometheus metrics at /metrics (prometheus-flask-exporter).

Request latency is labelled by URL rule (``/embed/<article>``), never by the
concrete path, so article keys and comment ids don't become labels. Under
gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` so every worker's numbers add up.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_flask_exporter import PrometheusMetrics
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import Comment, Status

COMMENTS_SUBMITTED = Counter(
    "comments_submitted_total",
    "Comment submissions by outcome",
    ["outcome"],  # pending, approved, rejected, spam, invalid, refused
)
# Counts answered before Flask (service/fastcounts.py): the request histogram does
# not see them.
COUNTS_FAST = Counter(
    "comments_counts_fast_total",
    "Counts requests answered before Flask, by kind",
    ["kind"],  # json, html, not_modified
)
CAPTCHAS = Counter(
    "captcha_total",
    "Captchas by event",
    ["event"],  # issued, solved, failed
)


class QueueCollector(Collector):
    """The pending queue's size and oldest age, read from the database at most once
    every ``METRICS_QUEUE_TTL`` seconds per process (a scrape must stay cheap)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._read_at = -math.inf
        self._value: tuple[int, datetime | None] = (0, None)

    def _queue(self) -> tuple[int, datetime | None] | None:
        with self._lock:
            if time.monotonic() - self._read_at < self.app.config["METRICS_QUEUE_TTL"]:
                return self._value
            with self.app.app_context():
                try:
                    count, oldest = db.session.execute(
                        select(func.count(Comment.id), func.min(Comment.created_at)).where(
                            Comment.status == Status.PENDING, Comment.deleted_at.is_(None)
                        )
                    ).one()
                except SQLAlchemyError:
                    db.session.rollback()
                    return None
                finally:
                    db.session.remove()
            self._value, self._read_at = (count, oldest), time.monotonic()
            return self._value

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("comments_pending", "Comments waiting for a moderator")
        age = GaugeMetricFamily(
            "comments_pending_oldest_age_seconds", "Age of the oldest pending comment"
        )
        queue = self._queue()
        if queue is None:
            return
        count, oldest = queue
        size.add_metric([], count)
        if oldest is not None:
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            age.add_metric([], (datetime.now(UTC) - oldest).total_seconds())
        else:
            age.add_metric([], 0)
        yield size
        yield age


def may_read_metrics() -> bool:
    """From an allowed network, or with the metrics token."""
    token = current_app.config["METRICS_TOKEN"]
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(net, strict=False)
        for net in current_app.config["METRICS_ALLOW"]
    )


def guard_metrics() -> ResponseReturnValue | None:
    if request.path == "/metrics" and not may_read_metrics():
        return jsonify(error={"code": "forbidden", "message": "metrics are not public"}), 403
    return None


def init_app(app: Flask) -> None:
    if not app.config["METRICS_ENABLED"]:
        return
    app.before_request(guard_metrics)
    # One registry per app (tests build many apps in one process).
    registry = CollectorRegistry()
    options = {
        "path": "/metrics",
        "group_by": "url_rule",
        "defaults_prefix": "comments",
        "registry": registry,
        "excluded_paths": ["^/metrics$", "^/favicon.ico$"],
    }
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker writes its numbers to files there; /metrics adds them up.
        exporter: PrometheusMetrics = GunicornInternalPrometheusMetrics(app, **options)
    else:
        registry.register(COMMENTS_SUBMITTED)
        registry.register(CAPTCHAS)
        registry.register(COUNTS_FAST)
        exporter = PrometheusMetrics(app, **options)
    registry.register(QueueCollector(app))
    app.extensions["metrics"] = exporter
