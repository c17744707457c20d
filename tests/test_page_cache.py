"""Public pages kept per worker (service.pagecache): reused while the article is unchanged,
never once it has changed."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable

import brotli
import pytest
from flask import Flask

from service import moderation
from service.moderation import Action

PAGES = ["/embed/67584?lang=zh-CN", "/api/v1/articles/67584/comments"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_is_rendered_once_and_reused(
    app: Flask, make_comment: Callable[..., int], path: str
) -> None:
    make_comment(body="第一条评论")
    client = app.test_client()

    first = client.get(path)
    pages = dict(app.extensions["pagecache"]._pages)
    second = client.get(path)

    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data()
    assert first.headers["ETag"] == second.headers["ETag"]
    assert len(pages) == 1
    assert app.extensions["pagecache"]._pages == pages  # the same page object, not a new one


@pytest.mark.parametrize("path", PAGES)
def test_an_approval_shows_at_once_on_every_worker(
    make_app: Callable[..., Flask],
    make_comment: Callable[..., int],
    pending: Callable[..., int],
    path: str,
) -> None:
    make_comment(body="第一条评论")
    waiting = pending(body="刚刚通过的评论")
    worker_a, worker_b = make_app(), make_app()
    reader = worker_b.test_client()
    assert "刚刚通过的评论" not in reader.get(path).get_data(as_text=True)

    with worker_a.app_context():
        moderation.apply(waiting, Action.APPROVE)

    assert "刚刚通过的评论" in reader.get(path).get_data(as_text=True)

    with worker_a.app_context():
        moderation.apply(waiting, Action.DELETE)

    assert "刚刚通过的评论" not in reader.get(path).get_data(as_text=True)


def test_pages_differ_by_query_and_language(app: Flask, make_comment: Callable[..., int]) -> None:
    make_comment()
    client = app.test_client()

    chinese = client.get("/embed/67584?lang=zh-CN").get_data(as_text=True)
    english = client.get("/embed/67584?lang=en").get_data(as_text=True)
    by_header = client.get("/embed/67584", headers={"Accept-Language": "en"}).get_data(as_text=True)
    dark = client.get("/embed/67584?lang=zh-CN&theme=dark").get_data(as_text=True)

    assert "共有 1 条评论" in chinese
    assert "1 in total" in english
    assert "1 in total" in by_header
    assert dark != chinese


def test_compressed_forms_are_made_once_and_match(
    app: Flask, make_comment: Callable[..., int]
) -> None:
    for n in range(20):
        make_comment(body=f"第{n}条评论，内容足够长，值得压缩。" * 3)
    client = app.test_client()

    plain = client.get("/embed/67584?lang=zh-CN")
    brotli_page = client.get("/embed/67584?lang=zh-CN", headers={"Accept-Encoding": "br"})
    gzip_page = client.get("/embed/67584?lang=zh-CN", headers={"Accept-Encoding": "gzip"})
    again = client.get(
        "/embed/67584?lang=zh-CN",
        headers={"Accept-Encoding": "gzip", "If-None-Match": gzip_page.headers["ETag"]},
    )

    assert brotli_page.headers["Content-Encoding"] == "br"
    assert gzip_page.headers["Content-Encoding"] == "gzip"
    assert brotli.decompress(brotli_page.get_data()) == plain.get_data()
    assert gzip.decompress(gzip_page.get_data()) == plain.get_data()
    assert "Accept-Encoding" in gzip_page.headers["Vary"]
    assert again.status_code == 304


def test_time_to_live_zero_renders_every_request(
    make_app: Callable[..., Flask], make_comment: Callable[..., int]
) -> None:
    app = make_app(PAGE_CACHE_TTL=0)
    make_comment()

    app.test_client().get("/embed/67584")

    assert "pagecache" not in app.extensions


def test_a_like_shows_at_once_on_every_worker(
    make_app: Callable[..., Flask], make_comment: Callable[..., int]
) -> None:
    comment = make_comment()
    liker, reader = make_app().test_client(), make_app().test_client()
    path = "/api/v1/articles/67584/comments"
    assert reader.get(path).get_json()["comments"][0]["likes"] == 0

    liked = liker.post(
        f"/api/v1/articles/67584/comments/{comment}/like",
        json={},
        headers={"Origin": "https://www.portal.example"},
    )

    assert liked.get_json()["likes"] == 1
    assert reader.get(path).get_json()["comments"][0]["likes"] == 1


def test_relative_times_are_made_again_after_the_time_to_live(
    make_app: Callable[..., Flask], make_comment: Callable[..., int]
) -> None:
    app = make_app(PAGE_CACHE_TTL=0.2)
    make_comment()
    client = app.test_client()
    client.get("/embed/67584?lang=zh-CN")
    first = next(iter(app.extensions["pagecache"]._pages.values()))

    time.sleep(0.25)
    client.get("/embed/67584?lang=zh-CN")

    assert next(iter(app.extensions["pagecache"]._pages.values())) is not first


@pytest.mark.parametrize("path", [*PAGES, "/api/v1/counts?article=67584"])
def test_an_unreachable_database_is_a_503_not_a_500(
    make_app: Callable[..., Flask], path: str
) -> None:
    client = make_app(DATABASE_URL="sqlite:////nonexistent-dir/x.db").test_client()

    response = client.get(path)

    assert response.status_code == 503
    assert response.headers.get("Retry-After")
