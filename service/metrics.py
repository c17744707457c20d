"""Prometheus metrics at /metrics (prometheus-flask-exporter).

Request latency is labelled by URL rule (``/embed/<article>``), never by the
concrete path, so article keys and comment ids don't become labels. Under
gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` so every worker's numbers add up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Flask
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
CAPTCHAS = Counter(
    "captcha_total",
    "Captchas by event",
    ["event"],  # issued, solved, failed
)


class QueueCollector(Collector):
    """The pending queue's size and oldest age, read from the database at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("comments_pending", "Comments waiting for a moderator")
        age = GaugeMetricFamily(
            "comments_pending_oldest_age_seconds", "Age of the oldest pending comment"
        )
        with self.app.app_context():
            try:
                count, oldest = db.session.execute(
                    select(func.count(Comment.id), func.min(Comment.created_at)).where(
                        Comment.status == Status.PENDING, Comment.deleted_at.is_(None)
                    )
                ).one()
            except SQLAlchemyError:
                db.session.rollback()
                return
            finally:
                db.session.remove()
        size.add_metric([], count)
        if oldest is not None:
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            age.add_metric([], (datetime.now(UTC) - oldest).total_seconds())
        else:
            age.add_metric([], 0)
        yield size
        yield age


def init_app(app: Flask) -> None:
    if not app.config["METRICS_ENABLED"]:
        return
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
        exporter = PrometheusMetrics(app, **options)
    registry.register(QueueCollector(app))
    app.extensions["metrics"] = exporter
