"""Likes, reports and cross-site requests: the attacks a security probe found, replayed.

- CORS answers cached by a CDN without ``Vary: Origin``.
"""

from __future__ import annotations

import pytest
from werkzeug.test import TestResponse

ARTICLE = "67584"
PORTAL = "https://www.portal.example"  # conftest's ALLOWED_ORIGINS
EVIL = "https://evil.example"


# --- CORS answers vary on Origin, whatever was sent ---------------------------------------------

CACHEABLE = [
    f"/api/v1/counts?article={ARTICLE}",
    f"/api/v1/articles/{ARTICLE}/comments",
    "/api/v1/openapi.json",
]
ORIGINS = {"no-origin": None, "portal": PORTAL, "other-origin": EVIL}


def vary_of(response: TestResponse) -> list[str]:
    """Every name in Vary, lower-cased, over all Vary lines (each name once, we check)."""
    return [v.strip().lower() for line in response.headers.getlist("Vary") for v in line.split(",")]


def assert_varies_on_origin_and_encoding(response: TestResponse) -> None:
    vary = vary_of(response)
    assert "origin" in vary, response.headers
    assert "accept-encoding" in vary, response.headers
    assert len(vary) == len(set(vary)), vary


@pytest.mark.parametrize("origin", list(ORIGINS.values()), ids=list(ORIGINS))
@pytest.mark.parametrize("path", CACHEABLE)
def test_cacheable_api_answers_vary_on_origin(client, make_comment, path, origin):
    make_comment()

    response = client.get(path, headers={"Origin": origin} if origin else {})

    assert response.status_code == 200
    assert_varies_on_origin_and_encoding(response)


@pytest.mark.parametrize("origin", list(ORIGINS.values()), ids=list(ORIGINS))
def test_not_modified_counts_vary_on_origin_too(client, make_comment, origin):
    make_comment()
    headers = {"Origin": origin} if origin else {}
    first = client.get(CACHEABLE[0], headers=headers)

    again = client.get(CACHEABLE[0], headers={**headers, "If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304
    assert_varies_on_origin_and_encoding(again)


def test_with_several_portals_origin_is_named_once(make_app, make_comment):
    client = make_app(ALLOWED_ORIGINS=[PORTAL, "https://m.portal.example"]).test_client()
    make_comment()

    response = client.get(CACHEABLE[0], headers={"Origin": PORTAL, "Accept-Encoding": "gzip"})

    assert response.headers["Access-Control-Allow-Origin"] == PORTAL
    assert len(response.headers.getlist("Vary")) == 1
    assert_varies_on_origin_and_encoding(response)
