"""Operator-facing and demo routes: health, the count script, the demo portal page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..assets import file_response
from ..extensions import db

bp = Blueprint("site", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database answers, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        db.session.rollback()
        database = "unavailable"
    body = {
        "status": "ok" if database == "ok" else "unavailable",
        "database": database,
        "captcha_test_mode": bool(current_app.config["CAPTCHA_TEST_MODE"]),
    }
    response = jsonify(body)
    response.status_code = 200 if database == "ok" else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/count.js")
def count_js() -> ResponseReturnValue:
    """Fills every [data-comment-count] element on a portal page."""
    return file_response("count.js", max_age=300)


@bp.get("/demo")
def demo() -> ResponseReturnValue:
    """A demo portal page: an article with the widget and a listing with counts.

    Off unless ``DEMO_ENABLED`` (``make run`` switches it on): a production
    service has no business serving a fake portal page.
    """
    if not current_app.config["DEMO_ENABLED"]:
        abort(404)
    return render_template("demo/article.html")


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """No icon: an empty answer instead of a 404 in every browser's console."""
    return "", 204, {"Cache-Control": "public, max-age=86400"}


@bp.get("/")
def index() -> ResponseReturnValue:
    """The demo when it is on, else the moderators' sign-in."""
    return redirect(url_for("site.demo") if current_app.config["DEMO_ENABLED"] else "/mod/")
