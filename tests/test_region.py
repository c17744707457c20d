"""IP 属地: the region looked up offline at submission, shown beside the nickname.

The addresses below are ones the shipped ip2region data knows (checked against
it): public DNS resolvers and carriers' well-known ranges.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import solve
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service import moderation, region
from service.extensions import db
from service.models import Comment

ARTICLE = "67584"
COMMENTS = f"/api/v1/articles/{ARTICLE}/comments"
ZHEJIANG = "223.5.5.5"  # AliDNS, Hangzhou


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("114.114.114.114", "江苏"),  # 114DNS, Nanjing
        (ZHEJIANG, "浙江"),
        ("202.96.128.86", "广东"),  # China Telecom Guangzhou DNS
        ("1.80.0.1", "陕西"),
        ("180.76.76.76", "北京"),  # Baidu DNS (a municipality: no 省 to drop)
        ("120.0.0.1", "河北"),
        ("103.235.46.39", "中国香港"),
        ("202.175.0.1", "中国澳门"),
        ("140.112.0.1", "中国台湾"),
        ("8.8.8.8", "海外"),  # Google, United States
        ("1.1.1.1", "海外"),  # Cloudflare, Australia in the data
        ("::ffff:114.114.114.114", "江苏"),  # IPv4-mapped IPv6: its IPv4 address
    ],
)
def test_known_addresses_give_their_region(address, expected):
    assert region.lookup(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "192.168.1.1",
        "10.0.0.1",
        "100.64.0.1",  # carrier-grade NAT
        "203.0.113.7",  # documentation range
        "0.0.0.0",
        "::1",
        "fe80::1",
        "2400:3200::1",  # IPv6: the shipped data covers IPv4 only
        "",
        None,
        "not an address",
        "999.1.1.1",
    ],
)
def test_private_unknown_and_malformed_addresses_give_none(address):
    assert region.lookup(address) is None


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("中国|0|广东省|广州市|电信", "广东"),
        ("中国|0|广西壮族自治区|南宁市|联通", "广西"),
        ("中国|0|内蒙古|0|0", "内蒙古"),
        ("中国|0|新疆维吾尔自治区|0|0", "新疆"),
        ("中国|0|上海市|上海市|电信", "上海"),
        ("中国|0|香港特别行政区|0|0", "中国香港"),
        ("中国|0|台湾省|台北|0", "中国台湾"),
        ("中国|0|0|0|0", None),  # somewhere in China: nothing better to say
        ("中国|0|火星|0|0", None),  # never passes on a name that is no province
        ("日本|0|东京|0|0", "海外"),
        ("0|0|0|内网IP|内网IP", None),
        ("", None),
    ],
)
def test_records_read_as_platforms_show_them(record, expected):
    assert region.province(record) == expected


def test_the_data_installs_with_the_package():
    path = region.data_path()

    assert path.is_file()
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert path.stat().st_size > 1_000_000


# --- stored at submission, shown beside the nickname -----------------------------------------


def post_from(client: FlaskClient, address: str, **fields: Any) -> TestResponse:
    token, answer = solve(client)
    payload = {"author": "杭州网友", "body": "西湖边发来的评论 🌊", **fields}
    return client.post(
        COMMENTS,
        json={**payload, "captcha_token": token, "captcha_answer": answer},
        environ_base={"REMOTE_ADDR": address},
    )


def approve(app: Flask, comment_id: int) -> None:
    with app.test_request_context():
        moderation.apply(comment_id, moderation.Action.APPROVE, by=None)


@pytest.fixture
def published(app: Flask, client: FlaskClient) -> int:
    """An approved comment sent from Zhejiang."""
    comment_id = post_from(client, ZHEJIANG).get_json()["id"]
    approve(app, comment_id)
    return comment_id


def test_the_region_is_stored_with_the_comment(app, published):
    with app.app_context():
        comment = db.session.get(Comment, published)
        assert comment is not None
        assert comment.region == "浙江"
        assert comment.remote_addr == ZHEJIANG


def test_the_widget_shows_the_region_beside_the_nickname(client, published):
    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)

    assert (
        f'id="comment-{published}-author">杭州网友</strong>\n'
        '      <span class="cw-region">IP属地：浙江</span>'
    ) in page
    assert ZHEJIANG not in page


def test_the_widget_in_english_names_it_too(client, published):
    page = client.get(f"/embed/{ARTICLE}?lang=en").get_data(as_text=True)

    assert '<span class="cw-region">IP location: 浙江</span>' in page


def test_the_public_api_has_the_region_not_the_address(client, published):
    response = client.get(COMMENTS)

    (comment,) = response.get_json()["comments"]
    assert comment["region"] == "浙江"
    assert ZHEJIANG not in response.get_data(as_text=True)


def test_moderators_see_the_region(app, client, published, mod_client, moderator):
    from service import auth

    with app.app_context():
        found = auth.find_moderator(moderator)
        assert found is not None
        token = auth.create_token(found, "CMS")

    queue = client.get(
        "/api/v1/mod/comments?status=approved", headers={"Authorization": f"Bearer {token}"}
    ).get_json()
    dashboard = mod_client.get("/mod/queue/approved").get_data(as_text=True)

    assert queue["comments"][0]["region"] == "浙江"
    assert "IP属地：浙江" in dashboard


def test_an_unknown_region_shows_nothing(app, client):
    comment_id = post_from(client, "192.168.3.4", author="内网读者").get_json()["id"]
    approve(app, comment_id)

    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)

    assert "内网读者" in page
    assert "cw-region" not in page
    assert client.get(COMMENTS).get_json()["comments"][0]["region"] is None


def test_the_stored_region_is_history(app, client, published):
    """A newer database (or a moved address range) does not rewrite what was shown."""
    with app.app_context():
        comment = db.session.get(Comment, published)
        assert comment is not None
        comment.region = "山西"
        db.session.commit()

    assert client.get(COMMENTS).get_json()["comments"][0]["region"] == "山西"


def test_show_region_off_hides_it_from_the_public_only(make_app: Callable[..., Flask]):
    app = make_app(SHOW_REGION=False)
    client = app.test_client()
    comment_id = post_from(client, ZHEJIANG).get_json()["id"]
    approve(app, comment_id)

    page = client.get(f"/embed/{ARTICLE}").get_data(as_text=True)
    listed = client.get(COMMENTS).get_json()["comments"][0]

    assert "IP属地" not in page
    assert listed["region"] is None
    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        assert comment.region == "浙江"  # still stored; moderators still see it


def test_the_binding_imports_where_console_scripts_run():
    """gunicorn and flask run with their bin/ folder first on sys.path: nothing there may
    shadow the ``ip2region`` package (iputil's ``bin/ip2region.py`` did)."""
    bin_dir = str(Path(sys.executable).parent)
    code = f"import sys; sys.path.insert(0, {bin_dir!r}); from ip2region import searcher, util"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
