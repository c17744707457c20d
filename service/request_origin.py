"""Where a state-changing request comes from: refuse those another site's page sent.

The widget lives in a cross-site iframe, where third-party cookies are often
blocked, so a cookie-bound CSRF token would not reach it. Browsers say where a
request comes from instead: ``Sec-Fetch-Site`` (Fetch Metadata: Chrome 76,
Firefox 90, Safari 16.4) and ``Origin`` on every cross-origin POST (Chrome and
Safari for years, Firefox since 70). A request with neither comes from a
program, which could send any header it likes and is not what CSRF is about,
or from a browser too old to be lured into it at scale; the likes it could add
are capped per address anyway (``likes.py``).

A token in the form signed under the secret key would add nothing: the widget
page is the same for every reader (a CDN caches it), so another site could
fetch the page and copy the token.
"""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext

from .errors import ServiceError
from .origins import allowed_origins, own_origin

# Fetch Metadata values that name another origin's page as the sender.
FOREIGN_SITES = frozenset({"cross-site", "same-site"})


class CrossSiteRequest(ServiceError):
    status = 403
    code = "cross_site_request"
    message = lazy_gettext("This request did not come from the comment box and was not accepted.")


def _this_origin() -> str:
    """The service's own origin: PUBLIC_URL's, else the one this request was sent to.

    Trusting the Host header is harmless here: a browser lured into a cross-site
    request cannot forge it, and a program could send any Origin anyway.
    """
    return own_origin() or request.host_url.rstrip("/")


def check_same_origin() -> None:
    """Refuse a request sent by a page that is not the service's own (CSRF)."""
    if request.headers.get("Sec-Fetch-Site", "").lower() in FOREIGN_SITES:
        raise CrossSiteRequest()
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/").lower() != _this_origin().lower():
        raise CrossSiteRequest()


def check_allowed_origin() -> None:
    """Refuse a request sent by a page on an origin not in ALLOWED_ORIGINS (nor our own)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    allowed = allowed_origins()
    if "*" not in allowed and origin.rstrip("/").lower() not in {o.lower() for o in allowed}:
        raise CrossSiteRequest()
