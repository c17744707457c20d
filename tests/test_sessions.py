"""Moderator sign-in and sessions: the pages a sign-in may go back to."""

from __future__ import annotations

import pytest
from helpers import MOD_PASSWORD, form_post, login
from werkzeug.urls import iri_to_uri

from service import auth

# --- where a sign-in or a language switch may go back to ---------------------------------------

REFUSED_NEXT = {
    "newline": "/\n",
    "crlf-header": "/\r\nSet-Cookie: planted=1",
    "tab-protocol-relative": "/\t/evil.example",
    "space": "/ /evil.example",
    "leading-space": " /mod/",
    "ideographic-space": "/\u3000/evil.example",
    "no-break-space": "/\u00a0",
    "nul": "/mod/\x00",
    "delete": "/mod/\x7f",
    "bidi-override": "/\u202eelpmaxe.live",
    "zero-width": "/\u200b/evil.example",
    "backslash": "/\\evil.example",
    "backslash-later": "/mod/\\..\\x",
    "leading-backslash": "\\/evil.example",
    "protocol-relative": "//evil.example",
    "triple-slash": "///evil.example",
    "absolute": "https://evil.example/x",
    "scheme-only": "javascript:alert(1)",
    "relative": "mod/queue",
    "empty": "",
    "too-long": "/" + "a" * 3000,
}
ALLOWED_NEXT = {
    "queue": "/mod/queue/spam",
    "query": "/mod/queue?article=67584&page=2",
    "chinese": "/mod/queue?q=广告",
    "encoded": "/mod/queue?q=%E5%B9%BF%E5%91%8A",
}


@pytest.mark.parametrize("target", REFUSED_NEXT.values(), ids=REFUSED_NEXT.keys())
def test_safe_next_refuses_anything_but_a_plain_local_path(target):
    assert auth.safe_next(target) is None


@pytest.mark.parametrize("target", ALLOWED_NEXT.values(), ids=ALLOWED_NEXT.keys())
def test_safe_next_keeps_local_paths(target):
    assert auth.safe_next(target) == target


@pytest.mark.parametrize("target", REFUSED_NEXT.values(), ids=REFUSED_NEXT.keys())
def test_language_switch_never_fails_nor_leaves_the_site(client, target):
    response = client.get("/mod/lang/en", query_string={"next": target})

    assert response.status_code == 303
    assert response.location == "/mod/"


@pytest.mark.parametrize("raw", ["/%0a", "/%0d%0a", "/%09/evil.example", "%2F%2Fevil.example"])
def test_language_switch_answers_the_probes_raw_query(client, raw):
    """As sent in the probe: /mod/lang/en?next=/%0a answered 500."""
    response = client.get(f"/mod/lang/en?next={raw}")

    assert response.status_code == 303
    assert response.location == "/mod/"


@pytest.mark.parametrize("target", ALLOWED_NEXT.values(), ids=ALLOWED_NEXT.keys())
def test_language_switch_goes_back_to_a_local_page(client, target):
    response = client.get("/mod/lang/en", query_string={"next": target})

    assert response.status_code == 303
    assert response.location == iri_to_uri(target)


@pytest.mark.parametrize("target", REFUSED_NEXT.values(), ids=REFUSED_NEXT.keys())
def test_sign_in_never_fails_nor_leaves_the_site(client, moderator, target):
    response = login(client, moderator, MOD_PASSWORD, next=target)

    assert response.status_code == 303
    assert response.location == "/mod/"


@pytest.mark.parametrize("target", ["/\n", "//evil.example", "/\u202e"])
def test_form_next_after_an_action_stays_on_the_site(mod_client, pending, target):
    comment = pending()

    response = form_post(mod_client, f"/mod/comments/{comment}/approve", {"next": target})

    assert response.status_code == 303
    assert response.location == "/mod/queue"
