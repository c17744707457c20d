"""Accounts and dashboard helpers that several test files share.

The fixtures built on these (``moderator``, ``admin``, ``mod_client``,
``admin_client``) live in conftest.py; test files import the names and the plain
functions from here (``from helpers import MODERATOR, login``), the way the
browser tests import ``browser``: pytest puts this folder on ``sys.path``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service import auth

MODERATOR = "xiaowang"
MOD_PASSWORD = "审核员的密码-correct-horse"
ADMIN = "laoli"
ADMIN_PASSWORD = "管理员的密码-battery-staple"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def add_account(app: Flask, name: str, password: str, admin: bool = False) -> str:
    """Create a moderator (or admin) account the way the service does; returns the name."""
    with app.app_context():
        auth.add_moderator(name, password, admin=admin)
    return name


def csrf_token(client: FlaskClient, **kwargs: Any) -> str:
    """The CSRF token from the <meta> of a dashboard page (the sign-in page has one too)."""
    page = client.get("/mod/login", **kwargs).get_data(as_text=True)
    match = CSRF_META.search(page)
    assert match, page
    return match.group(1)


def login(
    client: FlaskClient, name: str, password: str, next: str | None = None, **kwargs: Any
) -> TestResponse:
    """Submit the dashboard's sign-in form; 303 when it worked."""
    token = csrf_token(client, **kwargs)
    return client.post(
        "/mod/login",
        query_string={"next": next} if next is not None else None,
        data={"csrf_token": token, "username": name, "password": password},
        **kwargs,
    )


def form_post(
    client: FlaskClient, path: str, data: dict[str, Any] | None = None, as_json: bool = False
) -> TestResponse:
    """A dashboard form submission with its CSRF token (JSON answer if ``as_json``)."""
    headers = {"Accept": "application/json"} if as_json else {}
    payload = {"csrf_token": csrf_token(client), **(data or {})}
    return client.post(path, data=payload, headers=headers)


def post_as(
    client: FlaskClient,
    ip: str,
    body: str,
    article: str = "hot-article",
    proof: str | None = "PASSED",
    **fields: Any,
) -> TestResponse:
    """A reader at ``ip`` posts through the JSON API with a perfect captcha solver.

    Needs an app with ``CAPTCHA_TEST_MODE`` (``PASSED`` answers any captcha and, under
    attack, any proof of work) and ``TRUSTED_PROXIES=1`` (the address comes from
    X-Forwarded-For, as behind the portal's proxy).
    """
    headers = {"X-Forwarded-For": ip}
    token = client.get("/captcha", headers=headers).get_json()["token"]
    payload: dict[str, Any] = {"body": body, "captcha_token": token, "captcha_answer": "PASSED"}
    if proof is not None:
        payload["proof_of_work"] = proof
    payload.update(fields)
    return client.post(f"/api/v1/articles/{article}/comments", json=payload, headers=headers)
