"""Comment and moderation service for Chinese news portals."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.routing import IntegerConverter

from . import (
    antispam,
    assets,
    auth,
    captcha,
    cli,
    fastcounts,
    i18n,
    identity,
    jobs,
    logs,
    metrics,
    secrets_file,
    security,
    templating,
)
from .config import DEFAULTS, RENAMED, apply_renamed, derived_settings
from .errors import register_error_handlers
from .extensions import babel, compress, cors, csrf, db, limiter, migrate
from .models import MAX_ID
from .views import admin, api, dashboard, mod_api, site, widget
from .views import notifications as _notifications  # noqa: F401 - its pages join admin.bp
from .views import waves as _waves  # noqa: F401 - adds the wave view to the dashboard

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DatabaseIdConverter(IntegerConverter):
    """Ids in URLs: numbers past an id column's range read as 0, an id nothing has (404)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= MAX_ID else 0


def release_session(_error: BaseException | None) -> None:
    """Close the request's session; a connection that died is discarded, not a 500.

    Runs before Flask-SQLAlchemy's own teardown (teardowns run in reverse order).
    """
    try:
        db.session.close()
    except SQLAlchemyError:
        logging.getLogger(__name__).warning("database connection lost at end of request")
        db.session().invalidate()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: defaults, then ``COMMENTS_*`` environment, then ``config``."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("COMMENTS")
    if config:
        app.config.from_mapping(config)
    renamed = apply_renamed(app.config)
    identity.check_settings(app.config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets_file.load_or_create(Path(app.instance_path))
    for key, value in derived_settings(app.config, app.instance_path).items():
        app.config.setdefault(key, value)

    logs.init_app(app)
    for old in renamed:
        logging.getLogger(__name__).warning(
            "setting %s is deprecated; use %s", old, RENAMED[old][0]
        )
    # Chinese text stays as it is in every JSON answer: half the bytes of \u escapes.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # Ids in URLs fit a 64-bit column; bigger numbers are simply not found (404).
    app.url_map.converters["int"] = DatabaseIdConverter
    # Counts are answered before Flask (and inside the proxy handling set up next).
    fastcounts.init_app(app)
    security.init_app(app)
    db.init_app(app)
    app.teardown_appcontext(release_session)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    cors.init_app(app, **security.cors_settings(app.config["ALLOWED_ORIGINS"]))
    captcha.init_app(app)
    antispam.init_app(app)
    templating.init_app(app)
    auth.init_app(app)
    assets.init_app(app)
    compress.init_app(app)
    metrics.init_app(app)
    jobs.init_app(app)

    app.register_blueprint(widget.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(site.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(mod_api.bp)
    # The widget works without cookies (the captcha guards it); the APIs use no
    # cookies at all (public, or Bearer tokens). Every dashboard form needs CSRF.
    csrf.exempt(widget.bp)
    csrf.exempt(api.bp)
    csrf.exempt(mod_api.bp)
    register_error_handlers(app)
    cli.init_app(app)
    return app
