"""Counts answered before Flask, and the counts as a server-side HTML fragment.

``service.fastcounts`` answers plain counts requests without Flask's hooks. These
tests hold it to the Flask view's answer (status, headers, body), check that it
stays exact right after moderation, and cover ``/api/v1/counts.html``, the
fragment a PHP portal includes without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder, run_wsgi_app

from service import moderation
from service.fastcounts import CountsFastPath
from service.moderation import Action

PORTAL = "https://www.portal.example"
# Headers that differ between any two answers by design.
PER_REQUEST = {"x-request-id", "date"}


class Calls:
    """Counts the requests that went past the fast path to Flask."""

    def __init__(self, fast: CountsFastPath) -> None:
        self.count = 0
        self.flask = fast.app

        def counting(environ: Any, start_response: Any) -> Any:
            self.count += 1
            return self.flask(environ, start_response)

        fast.app = counting


@pytest.fixture
def fast(app: Flask) -> CountsFastPath:
    assert isinstance(app.wsgi_app, CountsFastPath)
    return app.wsgi_app


@pytest.fixture
def to_flask(fast: CountsFastPath) -> Iterator[Calls]:
    calls = Calls(fast)
    yield calls
    fast.app = calls.flask


def answer(wsgi: Any, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    environ = EnvironBuilder(path=path, **kwargs).get_environ()
    body, status, headers = run_wsgi_app(wsgi, environ)
    data = b"".join(body)
    # Repeated headers read as one, comma-joined (HTTP's rule): "Vary: A" + "Vary: B" = "A, B".
    joined = {k.lower(): ", ".join(headers.getlist(k)) for k in headers.keys()}
    return int(status.split()[0]), joined, data


def comparable(headers: dict[str, str]) -> dict[str, str]:
    found = {k: (v if k not in PER_REQUEST else "(present)") for k, v in headers.items()}
    if "vary" in found:
        found["vary"] = ", ".join(sorted(v.strip() for v in found["vary"].split(",")))
    return found


REQUESTS = [
    ("/api/v1/counts?article=67584&article=b&article=67584", {}),
    ("/api/v1/counts?article=nobody", {}),
    ("/api/v1/counts?article=67584", {"Origin": PORTAL}),
    ("/api/v1/counts?article=67584", {"Origin": "https://elsewhere.example"}),
    ("/api/v1/counts?article=67584", {"X-Request-ID": "portal-request-0001"}),
    ("/api/v1/counts.html?article=67584", {}),
    ("/api/v1/counts.html?article=nobody", {"Origin": PORTAL}),
]


@pytest.mark.parametrize(("path", "headers"), REQUESTS)
def test_fast_answer_is_the_flask_answer(
    make_comment: Callable[..., int],
    fast: CountsFastPath,
    to_flask: Calls,
    path: str,
    headers: dict[str, str],
) -> None:
    make_comment(article="67584")
    make_comment(article="67584")

    fast_status, fast_headers, fast_body = answer(fast, path, headers=headers)
    assert to_flask.count == 0, "the fast path did not answer"
    flask_status, flask_headers, flask_body = answer(to_flask.flask, path, headers=headers)

    assert fast_status == flask_status == 200
    assert fast_body == flask_body
    assert comparable(fast_headers) == comparable(flask_headers)
    assert fast_headers["x-request-id"]


@pytest.mark.parametrize("path", [path for path, _ in REQUESTS[:2]] + [REQUESTS[5][0]])
def test_fast_not_modified_is_the_flask_not_modified(
    make_comment: Callable[..., int], fast: CountsFastPath, to_flask: Calls, path: str
) -> None:
    make_comment(article="67584")
    etag = answer(fast, path)[1]["etag"]

    fast_answer = answer(fast, path, headers={"If-None-Match": etag})
    assert to_flask.count == 0
    flask_answer = answer(to_flask.flask, path, headers={"If-None-Match": etag})

    assert fast_answer[0] == flask_answer[0] == 304
    assert fast_answer[2] == flask_answer[2] == b""
    assert comparable(fast_answer[1]) == comparable(flask_answer[1])


def test_wildcard_origins_answer_alike(make_app: Callable[..., Flask]) -> None:
    app = make_app(ALLOWED_ORIGINS=["*"])
    fast = app.wsgi_app
    assert isinstance(fast, CountsFastPath)
    headers = {"Origin": PORTAL}
    fast_answer = answer(fast, "/api/v1/counts?article=a", headers=headers)
    flask_answer = answer(fast.app, "/api/v1/counts?article=a", headers=headers)

    assert fast_answer[1]["access-control-allow-origin"] == PORTAL
    assert comparable(fast_answer[1]) == comparable(flask_answer[1])


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/api/v1/counts?article=bad%20key", {}),
        ("/api/v1/counts?article=..", {}),
        ("/api/v1/counts?article=a&lang=en", {}),
        ("/api/v1/counts?" + "&".join(f"article=k{i}" for i in range(201)), {}),
        ("/api/v1/counts.html?article=a&article=b", {}),
        ("/api/v1/counts.html", {}),
        ("/api/v1/counts?article=a", {"method": "HEAD"}),
        ("/api/v1/counts?article=a", {"method": "POST", "json": {"articles": ["a"]}}),
        (
            "/api/v1/counts?" + "&".join(f"article=key-{i}" for i in range(60)),
            {"headers": {"Accept-Encoding": "gzip"}},
        ),
    ],
)
def test_everything_else_goes_on_to_flask(
    fast: CountsFastPath, to_flask: Calls, path: str, kwargs: dict[str, Any]
) -> None:
    status, headers, _ = answer(fast, path, **kwargs)

    assert to_flask.count == 1
    assert status in (200, 400)


def test_a_big_answer_for_a_gzip_client_is_compressed_by_flask(
    fast: CountsFastPath, to_flask: Calls
) -> None:
    path = "/api/v1/counts?" + "&".join(f"article=key-{i}" for i in range(60))
    _, headers, _ = answer(fast, path, headers={"Accept-Encoding": "gzip"})

    assert headers["content-encoding"] == "gzip"


def test_counts_are_exact_right_after_moderation(
    make_app: Callable[..., Flask], pending: Callable[..., int], make_comment: Callable[..., int]
) -> None:
    """Two workers on one database: a moderation action on one shows on the other at once."""
    make_comment(article="67584")
    waiting = pending(article="67584")
    worker_a, worker_b = make_app(), make_app()
    client_a, client_b = worker_a.test_client(), worker_b.test_client()
    path = "/api/v1/counts?article=67584"
    assert client_b.get(path).get_json() == {"counts": {"67584": 1}}

    with worker_a.app_context():
        moderation.apply(waiting, Action.APPROVE)
    assert client_b.get(path).get_json() == {"counts": {"67584": 2}}
    assert client_b.get("/api/v1/counts.html?article=67584").get_data(as_text=True) == (
        '<span class="comment-count" data-comment-count="67584">2</span>\n'
    )

    with worker_a.app_context():
        moderation.apply(waiting, Action.DELETE)
    assert client_a.get(path).get_json() == {"counts": {"67584": 1}}
    assert client_b.get(path).get_json() == {"counts": {"67584": 1}}
    # What may keep it longer is a shared cache, for the max-age published with it.
    assert client_b.get(path).headers["Cache-Control"] == "public, max-age=30"


# --- the fragment ------------------------------------------------------------------------


def test_fragment_counts_only_approved_comments(
    client: Any, make_comment: Callable[..., int], pending: Callable[..., int]
) -> None:
    make_comment(article="67584")
    make_comment(article="67584")
    pending(article="67584")

    response = client.get("/api/v1/counts.html?article=67584")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.get_data(as_text=True) == (
        '<span class="comment-count" data-comment-count="67584">2</span>\n'
    )
    assert response.headers["Cache-Control"] == "public, max-age=30"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_fragment_of_an_unknown_article_is_zero(client: Any) -> None:
    response = client.get("/api/v1/counts.html?article=nobody-commented")

    assert response.status_code == 200
    assert ">0</span>" in response.get_data(as_text=True)


def test_fragment_revalidates_with_its_etag(client: Any, make_comment: Callable[..., int]) -> None:
    make_comment(article="67584")
    first = client.get("/api/v1/counts.html?article=67584")

    again = client.get(
        "/api/v1/counts.html?article=67584", headers={"If-None-Match": first.headers["ETag"]}
    )
    make_comment(article="67584")
    changed = client.get(
        "/api/v1/counts.html?article=67584", headers={"If-None-Match": first.headers["ETag"]}
    )

    assert again.status_code == 304
    assert changed.status_code == 200
    assert ">2</span>" in changed.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    ["", "?article=a&article=b", "?article=%3Cscript%3E", "?article=.."],
)
def test_fragment_needs_exactly_one_valid_key(client: Any, query: str) -> None:
    response = client.get("/api/v1/counts.html" + query)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in ("bad_request", "invalid_article")
    assert "<script>" not in response.get_data(as_text=True)


def test_fragment_error_is_in_chinese_by_default(client: Any) -> None:
    response = client.get("/api/v1/counts.html?article=a&article=b")

    assert response.get_json()["error"]["message"] == "计数片段只能对应一篇文章。"


def test_fragment_is_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]

    assert "text/html" in paths["/api/v1/counts.html"]["get"]["responses"]["200"]["content"]


def test_sqlite_counts_are_reused_only_until_the_next_commit(
    app: Flask, fast: CountsFastPath, make_comment: Callable[..., int]
) -> None:
    if app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("PostgreSQL reads the counts on every request")
    make_comment(article="67584")
    client = app.test_client()
    path = "/api/v1/counts?article=67584&article=b"

    assert client.get(path).get_json() == {"counts": {"67584": 1, "b": 0}}
    assert fast.remembered.get(("67584", "b"), fast.changes.version()) == {"67584": 1, "b": 0}

    make_comment(article="67584")  # committed on another connection

    assert fast.remembered.get(("67584", "b"), fast.changes.version()) is None
    assert client.get(path).get_json() == {"counts": {"67584": 2, "b": 0}}


def test_counts_answered_before_flask_are_counted_in_the_metrics(app: Flask) -> None:
    client = app.test_client()
    client.get("/api/v1/counts?article=a")
    client.get("/api/v1/counts.html?article=a")

    metrics = client.get("/metrics").get_data(as_text=True)

    assert 'comments_counts_fast_total{kind="json"}' in metrics
    assert 'comments_counts_fast_total{kind="html"}' in metrics
