"""Static assets under versioned names (``widget.3f2a9c1b0d.css``), cached for a year.

A changed file gets a new name, so browsers and CDNs may keep every version
forever (``immutable``) and still see a new release at once.
"""

from __future__ import annotations

import hashlib
import mimetypes
from functools import lru_cache
from pathlib import Path

from flask import Flask, Response, abort, request, url_for
from flask.typing import ResponseReturnValue

STATIC_DIR = Path(__file__).resolve().parent / "static"
ONE_YEAR = 365 * 24 * 3600


@lru_cache(maxsize=64)
def content(name: str) -> bytes:
    """A static file's bytes, read once per process (they are small)."""
    return (STATIC_DIR / name).read_bytes()


@lru_cache(maxsize=64)
def digest(name: str) -> str:
    return hashlib.sha256(content(name)).hexdigest()[:10]


def file_response(name: str, max_age: int) -> Response:
    """A static file from memory (so it can be compressed), with an ETag."""
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if mimetype == "application/javascript":
        mimetype = "text/javascript"
    response = Response(content(name), mimetype=mimetype)
    response.set_etag(digest(name))
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response.make_conditional(request)


def asset_url(name: str) -> str:
    """The versioned URL of a file in service/static."""
    path = Path(name)
    return url_for("assets", name=f"{path.stem}.{digest(name)}{path.suffix}")


def serve_asset(name: str) -> ResponseReturnValue:
    """Serve ``stem.<digest>.ext`` if the digest matches the file's content."""
    stem, _, rest = name.partition(".")
    version, _, suffix = rest.partition(".")
    original = f"{stem}.{suffix}"
    if "/" in name or not suffix or not (STATIC_DIR / original).is_file():
        abort(404)
    if version != digest(original):
        abort(404)
    response = file_response(original, ONE_YEAR)
    response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    return response


def init_app(app: Flask) -> None:
    app.add_url_rule("/assets/<name>", endpoint="assets", view_func=serve_asset)
    app.jinja_env.globals["asset_url"] = asset_url
