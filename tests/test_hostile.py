"""Hostile input against every public endpoint, from the corpus in ``hostile_corpus.json``.

Every request must get a 2xx/3xx (the input is legitimately accepted) or a 4xx, never a
5xx. A 4xx from a JSON endpoint (``/api/...``, ``/captcha...``) has the shape
``{"error": {"code", "message"}}``; a 4xx from a page is HTML with a message for people
(an ``<h1>`` or a ``role="alert"``). Where the corpus says what the answer must be
(``accepted``, ``too_long``, 404, ...), it is that. No HTML answer may contain a
markup-like payload unescaped. Then the XSS payloads are stored as comments (nickname,
title, URL and User-Agent too), approved, and the widget, its form after an error, the
moderation queue, the dashboard and both JSON APIs are checked: no markup beyond what the
same page has for a harmless comment, no event handlers, no ``javascript:`` URLs, the raw
payload absent, its text shown (escaped). The bodies of 10 MB and the deeply nested JSON
are generated here. Finally the service must still be healthy.

Tests are parametrized by corpus entry and endpoint; each failure lists every request that
went wrong with its method, path and the field that carried the value. One app on one
database serves most of the module (``world``), so that thousands of cases stay fast;
rate limits are off (conftest). Server errors are turned into 500 answers
(``PROPAGATE_EXCEPTIONS`` off) and the failure names the exception and the ``service/``
file and line it came from.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import traceback
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from conftest import POSTGRES_URL, SEED_ROWS, base_config, solve
from flask import Flask, got_request_exception
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select, text
from werkzeug.test import TestResponse

from service import auth, captcha, create_app, moderation, words
from service.articles import ensure_article
from service.extensions import db
from service.models import Article, Comment, Moderator, Status, WordKind

CORPUS_PATH = Path(__file__).with_name("hostile_corpus.json")
CORPUS: dict[str, Any] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))

ARTICLE = "hostile"  # one approved and one pending comment, for likes, reports, withdrawals
POST_ARTICLE = "hostile-post"  # submissions land here; nothing in it is ever published
MOD_ARTICLE = "hostile-mod"  # comments the moderation API acts on
OWNER_KEY = "the-real-owner-key"
MODERATOR = "hostile-mod"
MOD_PASSWORD = "审核员的密码-hostile-input"
KEY_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
SENTINEL = "@@HOSTILE@@"
DEFAULT_NICKNAME = "网友"
REPORT_REASONS = ("spam", "abuse", "illegal", "other")
QUEUES = ("pending", "reported", "approved", "rejected", "spam", "deleted")
ACTIONS = ("approve", "reject", "spam", "delete", "restore")
HTML_MESSAGE = re.compile(
    r"<h1[^>]*>\s*([^<\s][^<]*)</h1>|role=\"alert\"[^>]*>\s*(?:<p>)?\s*([^<\s][^<]*)<"
)
INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad]")
TEN_MB = 10 * 1024 * 1024


# --- the corpus ---------------------------------------------------------------------------


class JsonText(str):
    """JSON source text spliced verbatim into a request body (``"encoding": "json"``)."""


@dataclass(frozen=True)
class Entry:
    kind: str
    id: str
    value: Any  # str, bytes (base64 entries), JsonText, or any other JSON value
    expect: dict[str, list[str]]
    extra: dict[str, Any]

    @property
    def text(self) -> str | None:
        """The value when it is a string that can travel in a URL or form unchanged."""
        if type(self.value) is str and not re.search("[\ud800-\udfff]", self.value):
            return self.value
        return None


def load_entries() -> dict[str, list[Entry]]:
    kinds: dict[str, list[Entry]] = {}
    for kind, group in CORPUS["kinds"].items():
        entries = []
        for item in group["entries"]:
            value: Any = item["value"]
            if item.get("encoding") == "base64":
                value = base64.b64decode(value)
            elif item.get("encoding") == "json":
                value = JsonText(value)
            expect = {**group.get("expect", {}), **item.get("expect", {})}
            extra = {k: v for k, v in item.items() if k not in ("id", "value", "encoding")}
            entries.append(Entry(kind, item["id"], value, expect, extra))
        kinds[kind] = entries
    return kinds


ENTRIES = load_entries()
TEXT_KINDS = (
    "xss",
    "sqli",
    "overlong_and_empty",
    "invalid_utf8",
    "nul_bytes",
    "control_characters",
    "bidi_and_invisible",
    "lone_surrogates",
)


def of_kinds(*kinds: str) -> list[Entry]:
    return [entry for kind in kinds for entry in ENTRIES[kind]]


def raw(value: Any) -> bytes:
    """The value as bytes for a URL, a form or a header (lone surrogates as CESU bytes)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


def fragment(value: Any) -> bytes:
    """The value as a JSON fragment (a string for str/bytes; verbatim for JsonText)."""
    if isinstance(value, JsonText):
        return value.encode()
    if isinstance(value, bytes):
        return b'"' + value + b'"'
    return json.dumps(value).encode()  # ensure_ascii: a lone surrogate becomes \ud800


def json_with(template: Any, value: Any) -> bytes:
    """``template`` as JSON with the string SENTINEL replaced by the hostile value."""
    encoded = json.dumps(template, ensure_ascii=False).encode()
    return encoded.replace(json.dumps(SENTINEL).encode(), fragment(value))


def parses(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return False
    return True


def query(**params: Any) -> str:
    return urlencode([(k, raw(v)) for k, v in params.items()])


def form(**fields: Any) -> bytes:
    return urlencode([(k, raw(v)) for k, v in fields.items()]).encode("ascii")


def segment(value: Any) -> str:
    return quote(raw(value), safe="")


def header(value: Any) -> str:
    """A header value: the raw bytes as latin-1 (line breaks cannot travel in a header)."""
    return raw(value).decode("latin-1").replace("\r", "").replace("\n", "")


def stored_body(value: str) -> str:
    """A comment body as stored: line endings normalised, NFC, outer whitespace stripped."""
    return unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def stored_author(value: str) -> str:
    name = re.sub(r"\s+", " ", INVISIBLE.sub("", unicodedata.normalize("NFC", value))).strip()
    return name or DEFAULT_NICKNAME


# --- the app under attack -----------------------------------------------------------------


@dataclass
class World:
    app: Flask
    client: FlaskClient
    token: str
    approved_id: int
    pending_id: int
    errors: list[str] = field(default_factory=list)
    counter: int = 0
    spare: list[int] = field(default_factory=list)

    def next(self) -> int:
        self.counter += 1
        return self.counter

    def pending_comment(self) -> int:
        """A pending comment for the moderation API to act on (made in bulk beforehand)."""
        if self.spare:
            return self.spare.pop()
        return store_comment(self.app, MOD_ARTICLE, f"待处理 {self.next()}")


def describe(exception: BaseException) -> str:
    """The exception and the deepest place in service/ it went through."""
    frames = [f for f in traceback.extract_tb(exception.__traceback__) if "/service/" in f.filename]
    where = ""
    if frames:
        frame = frames[-1]
        where = f" at service/{frame.filename.rsplit('/service/', 1)[1]}:{frame.lineno}"
    return f"{type(exception).__name__}: {exception}{where}"


def store_comment(
    app: Flask,
    article: str,
    body: str,
    status: Status = Status.PENDING,
    owner_key: str | None = None,
) -> int:
    """A comment written straight into the database (like conftest's make_comment)."""
    with app.test_request_context():
        comment = Comment(
            article=ensure_article(article),
            author=DEFAULT_NICKNAME,
            body=body,
            status=status,
            remote_addr="203.0.113.9",
            owner_key_hash=moderation.hash_owner_key(owner_key) if owner_key else None,
        )
        db.session.add(comment)
        db.session.flush()
        moderation.admit(comment)
        db.session.commit()
        return comment.id


def reset_postgres(app: Flask) -> None:
    """What conftest's make_app does after a test on PostgreSQL: empty tables, seed rows."""
    db.session.remove()
    tables = ", ".join(t.name for t in reversed(db.metadata.sorted_tables))
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        for name, rows in SEED_ROWS.items():
            connection.execute(db.metadata.tables[name].insert(), rows)
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                    f" (SELECT max(id) FROM {name}))"
                )
            )


@pytest.fixture(scope="module")
def world(migrated_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if POSTGRES_URL:
        url = POSTGRES_URL
    else:
        copy = tmp_path_factory.mktemp("hostile") / "comments.db"
        shutil.copy(migrated_database, copy)
        url = f"sqlite:///{copy}"
    app = create_app(base_config(url, PROPAGATE_EXCEPTIONS=False))
    errors: list[str] = []

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        errors.append(describe(exception))

    got_request_exception.connect(record, app)
    with app.app_context():
        moderator = auth.add_moderator(MODERATOR, MOD_PASSWORD)
        token = auth.create_token(moderator, "hostile")
        # A suspect word, so that the dashboard's <mark> highlighting meets the payloads.
        words.add_words("alert", WordKind.SUSPECT, None)
    approved_id = store_comment(app, ARTICLE, "一条已通过的评论", Status.APPROVED)
    pending_id = store_comment(app, ARTICLE, "一条待审核的评论", owner_key=OWNER_KEY)
    with app.app_context():
        article = ensure_article(MOD_ARTICLE)
        spare = [
            Comment(article=article, author="网友", body=f"待处理 {n}", status=Status.PENDING)
            for n in range(500)
        ]
        db.session.add_all(spare)
        db.session.commit()
        spare_ids = [c.id for c in spare]
    yield World(app, app.test_client(), token, approved_id, pending_id, errors, spare=spare_ids)
    got_request_exception.disconnect(record, app)
    with app.app_context():
        if POSTGRES_URL:
            reset_postgres(app)
        db.engine.dispose()


# --- checking one request -----------------------------------------------------------------


def short(response: TestResponse) -> str:
    if response.is_json:
        data = response.get_json(silent=True)
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return f"{data['error'].get('code')}: {data['error'].get('message')}"
        return response.get_data(as_text=True)[:160]
    match = HTML_MESSAGE.search(response.get_data(as_text=True))
    return (match.group(1) or match.group(2)).strip() if match else response.mimetype


def shape_problems(response: TestResponse, kind: str) -> list[str]:
    """What is wrong with a 4xx answer's form: JSON error shape, or HTML with a message."""
    if kind == "either":
        kind = "json" if response.is_json else "html"
    if kind == "json":
        data = response.get_json(silent=True)
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return [f"not the JSON error shape: {response.mimetype} {response.data[:120]!r}"]
        found = []
        for name in ("code", "message"):
            if not isinstance(error.get(name), str) or not error[name].strip():
                found.append(f"error.{name} missing or empty: {error!r}"[:300])
        fields = error.get("fields", {})
        if not isinstance(fields, dict) or not all(
            isinstance(f, dict) and isinstance(f.get("code"), str) and f.get("message")
            for f in fields.values()
        ):
            found.append(f"malformed error.fields: {fields!r}"[:300])
        return found
    if response.mimetype != "text/html":
        return [f"a page's error is {response.mimetype}, not HTML: {response.data[:120]!r}"]
    if not HTML_MESSAGE.search(response.get_data(as_text=True)):
        return ["the error page has no message for people (<h1> or role=alert)"]
    return []


MARKUP_LIKE = re.compile(r"<[A-Za-z!]|\bon[a-z]+\s*=|javascript:", re.I)


def reflected(value: Any, page: str) -> bool:
    """The payload appears in a page unescaped: it opens a tag, sets a handler or a
    javascript: URL, escaping would change it, and yet it is there as sent."""
    return (
        isinstance(value, str)
        and MARKUP_LIKE.search(value) is not None
        and str(escape(value)) != value
        and value in page
    )


def carries_lone_surrogate(data: object) -> bool:
    """A JSON body whose text holds a lone surrogate (as a \\u escape or as raw bytes)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if not isinstance(data, bytes):
        return False
    try:
        json.dumps(json.loads(data), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


class Probe:
    """Sends requests for one corpus entry and collects everything that is wrong."""

    def __init__(self, world: World, entry: Entry) -> None:
        self.world = world
        self.entry = entry
        self.problems: list[str] = []

    def send(
        self,
        label: str,
        method: str,
        path: str,
        *,
        kind: str = "json",
        expect: set[int] | None = None,
        client: FlaskClient | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        self.world.errors.clear()
        response = (client or self.world.client).open(path, method=method, **kwargs)
        status = response.status_code
        label = f"{method} {path[:120]} [{label}]"
        self.refused_body = False
        if carries_lone_surrogate(kwargs.get("data")):
            # No database can store a lone surrogate: the service refuses the whole JSON
            # body with 400 (the field-level outcome never comes into play).
            self.refused_body = True
            expect = {400}
        if status >= 500:
            cause = "; ".join(self.world.errors) or short(response)
            self.problems.append(f"{label}: {status} SERVER ERROR ({cause})")
            return response
        if 400 <= status < 500:
            self.problems.extend(f"{label}: {status} {p}" for p in shape_problems(response, kind))
        if expect is not None and status not in expect:
            self.problems.append(
                f"{label}: expected {sorted(expect)}, got {status} ({short(response)})"
            )
        if response.mimetype == "text/html" and reflected(
            self.entry.value, response.get_data(as_text=True)
        ):
            self.problems.append(f"{label}: the payload is reflected unescaped in the HTML")
        return response

    def expect_outcome(self, label: str, got: str, allowed: list[str] | None) -> None:
        if getattr(self, "refused_body", False):
            allowed = ["bad_request"]
        if allowed and got not in allowed:
            self.problems.append(f"{label}: expected {allowed}, got {got!r}")

    def check(self) -> None:
        assert not self.problems, f"{self.entry.kind}/{self.entry.id}:\n" + "\n".join(self.problems)


def outcome(response: TestResponse, field_name: str, alone: bool = True) -> str:
    """accepted / bad_request / the field's error code / the error code."""
    if response.status_code in (202, 303):
        return "accepted"
    if response.status_code == 400:
        return "bad_request"
    data = response.get_json(silent=True) or {}
    error = data.get("error", {}) if isinstance(data, dict) else {}
    fields = error.get("fields") or {}
    name = "captcha_answer" if field_name == "captcha_token" else field_name
    if name in fields:
        return str(fields[name].get("code"))
    if response.status_code == 422 and not alone:
        return "accepted"  # refused for the other field only
    return f"{response.status_code} {error.get('code')}"


def fresh_captcha(world: World) -> tuple[str, str]:
    """A new captcha token and its right answer, as GET /captcha and conftest's solve()
    would give, issued in process (thousands of them are needed here)."""
    with world.app.app_context():
        challenge = captcha.new_challenge()
        return challenge.token, captcha.answer_for(challenge.nonce)


def stored(world: World, comment_id: int) -> Comment:
    with world.app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        db.session.expunge(comment)
        return comment


# --- probes: one function per endpoint, run for each entry --------------------------------

Probes = dict[str, Callable[[Probe], None]]
TEXT_PROBES: Probes = {}
KEY_PROBES: Probes = {}
PAGE_PROBES: Probes = {}
ID_PROBES: Probes = {}
JSON_PROBES: Probes = {}
RAW_BODY_PROBES: Probes = {}
CTYPE_PROBES: Probes = {}


def probe(*registries: Probes, name: str) -> Callable[[Callable[[Probe], None]], Any]:
    def register(func: Callable[[Probe], None]) -> Callable[[Probe], None]:
        for registry in registries:
            registry[name] = func
        return func

    return register


def valid_key(value: Any) -> bool:
    """The key pattern, less "." and ".." (no URL path can carry them)."""
    return type(value) is str and KEY_RE.fullmatch(value) is not None and value not in (".", "..")


@probe(KEY_PROBES, name="GET /api/v1/counts")
def counts_get(p: Probe) -> None:
    v = p.entry.value
    expect = {200} if valid_key(v) else {400}
    p.send("article=V", "GET", "/api/v1/counts?" + query(article=v), expect=expect)
    p.send("two keys", "GET", "/api/v1/counts?" + query(article="67584") + "&" + query(article=v))


@probe(KEY_PROBES, JSON_PROBES, name="POST /api/v1/counts")
def counts_post(p: Probe) -> None:
    v = p.entry.value
    body = json_with({"articles": [SENTINEL]}, v)
    expect = {200} if valid_key(v) else {400}
    p.send(
        "articles=[V]",
        "POST",
        "/api/v1/counts",
        data=body,
        content_type="application/json",
        expect=expect,
    )
    if isinstance(v, (str, bytes)):
        return  # 'articles' as a string is simply not a list
    body = json_with({"articles": SENTINEL}, v)
    whole_ok = isinstance(v, list) and len(v) <= 200 and all(valid_key(k) for k in v)
    p.send(
        "articles=V",
        "POST",
        "/api/v1/counts",
        data=body,
        content_type="application/json",
        expect={200} if whole_ok else {400},
    )


def list_get(p: Probe) -> None:
    v = p.entry.value
    path = f"/api/v1/articles/{ARTICLE}/comments?"
    p.send("page=V", "GET", path + query(page=v), expect={200} if v == "" else {400})
    p.send("sort=V", "GET", path + query(sort=v), expect={200} if v == "" else {400})


def submit(p: Probe, key: str, hostile: tuple[str, ...], label: str) -> TestResponse:
    """POST a comment (JSON) whose fields ``hostile`` carry the value; the rest is valid."""
    token, answer = fresh_captcha(p.world)
    fields: dict[str, Any] = {
        "author": "测试者",
        "body": f"正常的评论 {p.world.next()}",
        "captcha_token": token,
        "captcha_answer": answer,
    }
    fields.update(dict.fromkeys(hostile, SENTINEL))
    body = json_with(fields, p.entry.value)
    response = p.send(
        label,
        "POST",
        f"/api/v1/articles/{key}/comments",
        data=body,
        content_type="application/json",
        expect={202, 400, 403, 422},
    )
    if not parses(body):
        p.expect_outcome(label, outcome(response, hostile[0]), ["bad_request"])
    return response


def field_expectation(entry: Entry, field_name: str) -> list[str] | None:
    """What the corpus expects for this field, else what holds for any hostile value."""
    v = entry.value
    if field_name in entry.expect or field_name in ("body", "author"):
        return entry.expect.get(field_name)
    if field_name in ("title", "url"):
        return ["accepted"]
    if field_name == "reply_to":
        return ["accepted"] if v in (None, "") else ["invalid_reply"]
    return ["captcha_invalid"]  # a hostile answer or token is never right


# Which fields carry the value in each request. Field problems are reported at once (422
# with every field), so fields that cannot mask each other share a request; the captcha
# is only looked at once the fields are right, so its fields go alone.
SUBMISSIONS = (
    ("body=V", ("body",)),
    ("title=V, url=V", ("title", "url")),
    ("author=V", ("author",)),
    ("captcha_token=V", ("captcha_token",)),
    ("body=V, reply_to=V", ("body", "reply_to")),
    ("captcha_answer=V (a wrong captcha)", ("captcha_answer",)),
)


@probe(JSON_PROBES, name="POST /api/v1/articles/<key>/comments")
def post_comment(p: Probe) -> None:
    v = p.entry.value
    for label, hostile in SUBMISSIONS:
        response = submit(p, POST_ARTICLE, hostile, label)
        if not parses(json_with({"x": SENTINEL}, v)):
            continue
        for name in hostile:
            if name == "url":
                continue  # one outcome for title and url
            got = outcome(response, name, alone=len(hostile) == 1)
            p.expect_outcome(f"{label}: {name}", got, field_expectation(p.entry, name))
        if response.status_code == 202 and type(v) is str and hostile == ("body",):
            comment = stored(p.world, response.get_json()["id"])
            if comment.body != stored_body(v):
                p.problems.append(f"{label}: stored body {comment.body!r} is not the text sent")
    if isinstance(v, (str, bytes)):
        return  # as a whole body a string is simply not an object: see malformed_json
    whole = fragment(v)
    expect = {422} if isinstance(v, dict) else {400}
    p.send(
        "body is V",
        "POST",
        f"/api/v1/articles/{POST_ARTICLE}/comments",
        data=whole,
        content_type="application/json",
        expect=expect,
    )


@probe(JSON_PROBES, name="POST /api/v1/articles/<key>/comments/own")
def own(p: Probe) -> None:
    v = p.entry.value
    path = f"/api/v1/articles/{ARTICLE}/comments/own"
    body = json_with({"comments": [{"id": p.world.pending_id, "key": SENTINEL}]}, v)
    ok = parses(body)
    response = p.send(
        "key=V",
        "POST",
        path,
        data=body,
        content_type="application/json",
        expect={200} if ok else {400},
    )
    if response.status_code == 200 and response.get_json()["comments"] != []:
        p.problems.append(f"key=V proved ownership: {response.get_json()}")
    body = json_with({"comments": [{"id": SENTINEL, "key": OWNER_KEY}]}, v)
    p.send(
        "id=V",
        "POST",
        path,
        data=body,
        content_type="application/json",
        expect={200} if parses(body) else {400},
    )
    if isinstance(v, (str, bytes)):
        return  # 'comments' as a string is simply not a list
    claims_ok = isinstance(v, list) and len(v) <= 50 and all(isinstance(c, dict) for c in v)
    body = json_with({"comments": SENTINEL}, v)
    p.send(
        "comments=V",
        "POST",
        path,
        data=body,
        content_type="application/json",
        expect={200} if claims_ok else {400},
    )
    if not isinstance(v, (str, bytes)):
        p.send(
            "body is V",
            "POST",
            path,
            data=fragment(v),
            content_type="application/json",
            expect={400},
        )


@probe(JSON_PROBES, name="DELETE /api/v1/articles/<key>/comments/<id>")
def withdraw(p: Probe) -> None:
    v = p.entry.value
    path = f"/api/v1/articles/{ARTICLE}/comments/{p.world.pending_id}"
    body = json_with({"key": SENTINEL}, v)
    p.send(
        "key=V",
        "DELETE",
        path,
        data=body,
        content_type="application/json",
        expect={404} if parses(body) else {400},
    )
    if isinstance(v, (str, bytes)):
        return
    whole = fragment(v)
    p.send(
        "body is V",
        "DELETE",
        path,
        data=whole,
        content_type="application/json",
        expect={404} if isinstance(v, dict) else {400},
    )


def like_api(p: Probe) -> None:
    # The reader cookie as a raw header: the client's cookie jar would refuse (or warn
    # about) what a hostile browser sends anyway.
    client = p.world.app.test_client(use_cookies=False)
    path = f"/api/v1/articles/{ARTICLE}/comments/{p.world.approved_id}/like?"
    cookie = {"Cookie": "cw_reader=" + header(p.entry.value)}
    p.send(
        "cookie and lang=V",
        "POST",
        path + query(lang=p.entry.value),
        headers=cookie,
        json={},
        client=client,
        expect={200},
    )


def embed_get(p: Probe) -> None:
    v = p.entry.value  # ?page= and ?sort= get their own kinds (page_numbers) and the API
    params = query(
        title=v, url=v, reply_to=v, theme=v, accent=v, lang=v, posted=v, reported=v, captcha=v
    )
    p.send(
        "frame and form params=V", "GET", f"/embed/{ARTICLE}?" + params, kind="html", expect={200}
    )


def widget_post(p: Probe, key: str, label: str, expect: set[int] | None, **fields: Any) -> None:
    token, answer = fresh_captcha(p.world)
    values = {
        "author": "测试者",
        "body": f"正常的评论 {p.world.next()}",
        "captcha_token": token,
        "captcha_answer": answer,
        **fields,
    }
    p.send(
        label,
        "POST",
        f"/embed/{key}",
        data=form(**values),
        content_type="application/x-www-form-urlencoded",
        kind="html",
        expect=expect,
    )


def widget_expectation(entry: Entry, field_name: str) -> set[int] | None:
    """303 where the API accepts the value, 422 where it refuses it (text values only)."""
    if entry.text is None:
        return {303} if field_name == "title" else {303, 422}
    allowed = field_expectation(entry, field_name)
    if not allowed:
        return None
    if allowed == ["accepted"]:
        return {303}
    return {422} if "accepted" not in allowed else {303, 422}


def embed_post(p: Probe) -> None:
    v = p.entry.value
    # title and url are hidden fields, only stored with an accepted comment: they ride
    # along with the body. The nickname is checked by the same code as in the API.
    widget_post(
        p,
        POST_ARTICLE,
        "body=V, title=V, url=V",
        widget_expectation(p.entry, "body"),
        body=v,
        title=v,
        url=v,
    )
    # Refused four ways at once: nickname (maybe), reply target, captcha token and answer.
    widget_post(
        p,
        POST_ARTICLE,
        "author=V, reply_to=V, captcha=V",
        {422},
        author=v,
        reply_to=v,
        captcha_token=v,
        captcha_answer=v,
    )


def report(p: Probe) -> None:
    v = p.entry.value
    path = f"/embed/{ARTICLE}/report/{p.world.approved_id}?" + query(lang=v, theme=v, accent=v)
    p.send("frame params=V", "GET", path, kind="html", expect={200})
    p.send(
        "reason=V",
        "POST",
        f"/embed/{ARTICLE}/report/{p.world.approved_id}",
        data=form(reason=v),
        content_type="application/x-www-form-urlencoded",
        kind="html",
        expect={303} if v in REPORT_REASONS else {400},
    )


def embed_like(p: Probe) -> None:
    v = p.entry.value
    path = f"/embed/{ARTICLE}/like/{p.world.approved_id}?" + query(lang=v, theme=v, accent=v)
    p.send("frame params=V", "POST", path, kind="html", expect={303})


def captcha_media(p: Probe) -> None:
    v = p.entry.value
    for ext in ("png", "wav"):
        path = f"/captcha/{segment(v)}.{ext}?" + query(lang=v)
        p.send(f"token=V .{ext}", "GET", path, expect={404})
    p.send("lang=V", "GET", "/captcha?" + query(lang=v), expect={200})


def theme_css(p: Probe) -> None:
    response = p.send(
        "accent=V", "GET", "/theme.css?" + query(accent=p.entry.value), kind="html", expect={200}
    )
    if response.status_code == 200 and response.mimetype != "text/css":
        p.problems.append(f"theme.css answered {response.mimetype}")


def bearer(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.token}"}


def mod_list(p: Probe) -> None:
    v, auth_header = p.entry.value, bearer(p.world)
    bogus = {"Authorization": "Bearer " + header(v)}
    p.send("bogus token: Bearer V", "GET", "/api/v1/mod/comments", headers=bogus, expect={401})
    p.send("no token, status=V", "GET", "/api/v1/mod/comments?" + query(status=v), expect={401})
    p.send(
        "status=V",
        "GET",
        "/api/v1/mod/comments?" + query(status=v),
        headers=auth_header,
        expect={200} if v in QUEUES else {400},
    )
    path = "/api/v1/mod/comments?" + query(status="pending", article=v, ip=v, q=v)
    p.send("article=V&ip=V&q=V", "GET", path, headers=auth_header, expect={200})


@probe(JSON_PROBES, name="POST /api/v1/mod/comments/<id>/<action>")
def mod_act(p: Probe) -> None:
    v, auth_header = p.entry.value, bearer(p.world)
    target = p.world.pending_comment()
    body = json_with({"reason": SENTINEL}, v)
    response = p.send(
        "reject, reason=V",
        "POST",
        f"/api/v1/mod/comments/{target}/reject",
        data=body,
        content_type="application/json",
        headers=auth_header,
        expect={200} if parses(body) else {400},
    )
    if response.status_code == 200 and response.get_json()["status"] != "rejected":
        p.problems.append(f"reject answered {response.get_json()}")
    if isinstance(v, (str, bytes)):
        p.send(
            "action=V",
            "POST",
            f"/api/v1/mod/comments/{target}/{segment(v)}",
            headers=auth_header,
            expect={200, 409} if v in ACTIONS else {404, 405},
        )
        return
    target = p.world.pending_comment()
    p.send(
        "approve, body is V",
        "POST",
        f"/api/v1/mod/comments/{target}/approve",
        data=fragment(v),
        content_type="application/json",
        headers=auth_header,
        expect={200} if isinstance(v, dict) else {400},
    )


def site_pages(p: Probe) -> None:
    v = p.entry.value
    headers = {"Accept-Language": header(v)}
    for path, kind in (
        ("/healthz", "either"),
        ("/demo", "html"),
        ("/embed.js", "html"),
        ("/count.js", "html"),
        ("/api/v1/openapi.json", "json"),
        ("/mod/login", "html"),
    ):
        p.send(
            "lang=V, Accept-Language: V",
            "GET",
            f"{path}?" + query(lang=v, next=v),
            headers=headers,
            kind=kind,
            expect={200},
        )


def together(*probes: Callable[[Probe], None]) -> Callable[[Probe], None]:
    def run_all(p: Probe) -> None:
        for each in probes:
            each(p)

    return run_all


# One test per corpus entry and endpoint (family): the failure names the entry and the
# endpoint, and every message names the method, the path and the field that carried it.
TEXT_PROBES.update(
    {
        "GET|POST /api/v1/counts, GET /api/v1/articles/<key>/comments": together(
            counts_get, counts_post, list_get
        ),
        "POST /api/v1/articles/<key>/comments": post_comment,
        "POST .../comments/own, DELETE .../comments/<id>, POST .../comments/<id>/like": together(
            own, withdraw, like_api
        ),
        "GET /embed/<key>": embed_get,
        "POST /embed/<key>": embed_post,
        "GET|POST /embed/<key>/report/<id>, POST /embed/<key>/like/<id>": together(
            report, embed_like
        ),
        "GET /api/v1/mod/comments": mod_list,
        "POST /api/v1/mod/comments/<id>/<action>": mod_act,
        "GET /captcha[/<token>.png|.wav], /theme.css, /healthz, /demo, /embed.js, /count.js, "
        "/api/v1/openapi.json, /mod/login": together(captcha_media, theme_css, site_pages),
    }
)


# --- article keys, page numbers, comment ids ----------------------------------------------


def key_expect(entry: Entry, valid: set[int], invalid: set[int]) -> set[int] | None:
    verdict = entry.expect["key"][0]
    return valid if verdict == "valid" else invalid if verdict == "invalid" else None


@probe(KEY_PROBES, name="GET /api/v1/articles/<key>/comments")
def key_list(p: Probe) -> None:
    path = f"/api/v1/articles/{segment(p.entry.value)}/comments"
    p.send("key=V", "GET", path, expect=key_expect(p.entry, {200}, {400, 404}))


@probe(KEY_PROBES, name="POST /api/v1/articles/<key>/comments")
def key_post(p: Probe) -> None:
    token, answer = fresh_captcha(p.world)
    body = {"body": f"键 {p.world.next()}", "captcha_token": token, "captcha_answer": answer}
    p.send(
        "key=V",
        "POST",
        f"/api/v1/articles/{segment(p.entry.value)}/comments",
        json=body,
        expect=key_expect(p.entry, {202}, {400, 404, 405}),
    )


@probe(KEY_PROBES, name="POST /api/v1/articles/<key>/comments/own")
def key_own(p: Probe) -> None:
    path = f"/api/v1/articles/{segment(p.entry.value)}/comments/own"
    p.send(
        "key=V",
        "POST",
        path,
        json={"comments": []},
        expect=key_expect(p.entry, {200}, {400, 404, 405}),
    )


@probe(KEY_PROBES, name="DELETE /api/v1/articles/<key>/comments/<id>")
def key_withdraw(p: Probe) -> None:
    path = f"/api/v1/articles/{segment(p.entry.value)}/comments/{p.world.pending_id}"
    p.send("key=V", "DELETE", path, json={"key": OWNER_KEY + "-not"}, expect={400, 404, 405})


@probe(KEY_PROBES, name="POST /api/v1/articles/<key>/comments/<id>/like")
def key_like(p: Probe) -> None:
    path = f"/api/v1/articles/{segment(p.entry.value)}/comments/{p.world.approved_id}/like"
    p.send("key=V", "POST", path, json={}, expect={400, 404, 405})


@probe(KEY_PROBES, name="GET /embed/<key>")
def key_embed(p: Probe) -> None:
    p.send(
        "key=V",
        "GET",
        f"/embed/{segment(p.entry.value)}",
        kind="html",
        # 400 names the bad key for the portal's developer; 404 where no route matches.
        expect=key_expect(p.entry, {200}, {400, 404}),
    )


@probe(KEY_PROBES, name="POST /embed/<key>")
def key_embed_post(p: Probe) -> None:
    token, answer = fresh_captcha(p.world)
    data = form(body=f"键 {p.world.next()}", captcha_token=token, captcha_answer=answer)
    p.send(
        "key=V",
        "POST",
        f"/embed/{segment(p.entry.value)}",
        data=data,
        content_type="application/x-www-form-urlencoded",
        kind="html",
        expect=key_expect(p.entry, {303}, {400, 404, 405}),
    )


@probe(KEY_PROBES, name="GET|POST /embed/<key>/report/<id>, POST /embed/<key>/like/<id>")
def key_report_like(p: Probe) -> None:
    key, comment = segment(p.entry.value), p.world.approved_id
    refused = {400, 404, 405}
    p.send("report form", "GET", f"/embed/{key}/report/{comment}", kind="html", expect={400, 404})
    p.send(
        "report",
        "POST",
        f"/embed/{key}/report/{comment}",
        data=form(reason="spam"),
        content_type="application/x-www-form-urlencoded",
        kind="html",
        expect=refused,
    )
    p.send("like", "POST", f"/embed/{key}/like/{comment}", kind="html", expect=refused)


@probe(KEY_PROBES, name="GET /api/v1/mod/comments?article=V")
def key_mod_filter(p: Probe) -> None:
    path = "/api/v1/mod/comments?" + query(status="approved", article=p.entry.value)
    p.send("article=V", "GET", path, headers=bearer(p.world), expect={200})


def page_expect(entry: Entry, public: bool = False) -> set[int] | None:
    """Public lists stop at MAX_PUBLIC_PAGE; moderators may page further."""
    verdict = (
        entry.expect.get("public_page", entry.expect["page"]) if public else entry.expect["page"]
    )
    return {"ok": {200}, "bad_request": {400}}.get(verdict[0])


@probe(PAGE_PROBES, name="GET /api/v1/articles/<key>/comments?page=V")
def page_list(p: Probe) -> None:
    path = f"/api/v1/articles/{ARTICLE}/comments?" + query(page=p.entry.value)
    response = p.send("page=V", "GET", path, expect=page_expect(p.entry, public=True))
    if response.status_code == 200 and not 1 <= response.get_json()["page"] <= 1_000:
        p.problems.append(f"page out of range answered: {response.get_json()['page']}")


@probe(PAGE_PROBES, name="GET /embed/<key>?page=V")
def page_embed(p: Probe) -> None:
    path = f"/embed/{ARTICLE}?" + query(page=p.entry.value)
    p.send("page=V", "GET", path, kind="html", expect=page_expect(p.entry, public=True))


@probe(PAGE_PROBES, name="GET /api/v1/mod/comments?page=V")
def page_mod(p: Probe) -> None:
    path = "/api/v1/mod/comments?" + query(page=p.entry.value)
    p.send("page=V", "GET", path, headers=bearer(p.world), expect=page_expect(p.entry))


def id_expect(entry: Entry) -> set[int] | None:
    return {404} if entry.expect["id"] == ["not_found"] else None


@probe(ID_PROBES, name="DELETE /api/v1/articles/<key>/comments/<id>")
def id_withdraw(p: Probe) -> None:
    path = f"/api/v1/articles/{ARTICLE}/comments/{segment(p.entry.value)}"
    p.send("id=V", "DELETE", path, json={"key": OWNER_KEY}, expect=id_expect(p.entry))


@probe(ID_PROBES, name="POST /api/v1/articles/<key>/comments/<id>/like")
def id_like(p: Probe) -> None:
    path = f"/api/v1/articles/{ARTICLE}/comments/{segment(p.entry.value)}/like"
    p.send("id=V", "POST", path, json={}, expect=id_expect(p.entry))


@probe(ID_PROBES, name="GET /embed/<key>/report/<id>")
def id_report_form(p: Probe) -> None:
    path = f"/embed/{ARTICLE}/report/{segment(p.entry.value)}"
    p.send("id=V", "GET", path, kind="html", expect=id_expect(p.entry))


@probe(ID_PROBES, name="POST /embed/<key>/report/<id>")
def id_report(p: Probe) -> None:
    path = f"/embed/{ARTICLE}/report/{segment(p.entry.value)}"
    p.send(
        "id=V",
        "POST",
        path,
        data=form(reason="other"),
        content_type="application/x-www-form-urlencoded",
        kind="html",
        expect=id_expect(p.entry),
    )


@probe(ID_PROBES, name="POST /embed/<key>/like/<id>")
def id_embed_like(p: Probe) -> None:
    path = f"/embed/{ARTICLE}/like/{segment(p.entry.value)}"
    p.send("id=V", "POST", path, kind="html", expect=id_expect(p.entry))


@probe(ID_PROBES, name="POST /api/v1/mod/comments/<id>/approve")
def id_mod_act(p: Probe) -> None:
    path = f"/api/v1/mod/comments/{segment(p.entry.value)}/approve"
    p.send("id=V", "POST", path, headers=bearer(p.world), expect=id_expect(p.entry))


# --- raw JSON bodies and content types ------------------------------------------------------

JSON_ENDPOINTS: dict[str, tuple[str, str]] = {
    "POST /api/v1/counts": ("POST", "/api/v1/counts"),
    "POST /api/v1/articles/<key>/comments": ("POST", f"/api/v1/articles/{POST_ARTICLE}/comments"),
    "POST /api/v1/articles/<key>/comments/own": (
        "POST",
        f"/api/v1/articles/{ARTICLE}/comments/own",
    ),
    "DELETE /api/v1/articles/<key>/comments/<id>": ("DELETE", f"/api/v1/articles/{ARTICLE}/c"),
    "POST /api/v1/mod/comments/<id>/approve": ("POST", "/api/v1/mod/comments"),
}


def json_target(p: Probe, name: str) -> tuple[str, str, dict[str, str]]:
    method, path = JSON_ENDPOINTS[name]
    headers: dict[str, str] = {}
    if name.startswith("DELETE"):
        path = f"/api/v1/articles/{ARTICLE}/comments/{p.world.pending_id}"
    if "/mod/" in name:
        target = p.world.pending_comment()
        path = f"/api/v1/mod/comments/{target}/approve"
        headers = bearer(p.world)
    return method, path, headers


def raw_body_probe(name: str) -> Callable[[Probe], None]:
    def run(p: Probe) -> None:
        method, path, headers = json_target(p, name)
        expect = {400} if p.entry.expect["json"] == ["bad_request"] else None
        if "/mod/" in name and not p.entry.value:
            expect = {200}  # an action's body is optional: empty means no reason
        p.send(
            "raw body",
            method,
            path,
            data=raw(p.entry.value),
            headers=headers,
            content_type="application/json",
            expect=expect,
        )

    return run


for _name in JSON_ENDPOINTS:
    RAW_BODY_PROBES[_name] = raw_body_probe(_name)


def valid_json_for(p: Probe, name: str) -> dict[str, Any]:
    if name == "POST /api/v1/counts":
        return {"articles": ["67584"]}
    if name == "POST /api/v1/articles/<key>/comments":
        token, answer = fresh_captcha(p.world)
        return {"body": f"café {p.world.next()}", "captcha_token": token, "captcha_answer": answer}
    if name == "POST /api/v1/articles/<key>/comments/own":
        return {"comments": []}
    if name.startswith("DELETE"):
        return {"key": "not-the-key"}
    return {}


def ctype_probe(name: str) -> Callable[[Probe], None]:
    def run(p: Probe) -> None:
        method, path, headers = json_target(p, name)
        codec = p.entry.extra.get("body_codec", "utf-8")
        body = json.dumps(valid_json_for(p, name), ensure_ascii=False).encode(codec, "replace")
        verdict = p.entry.expect["content_type"][0]
        headers = {**headers, "Content-Type": p.entry.value}
        response = p.send(
            "Content-Type: V",
            method,
            path,
            data=body,
            headers=headers,
            expect={415} if verdict == "unsupported" else None,
        )
        if verdict == "json" and response.status_code in (400, 415):
            p.problems.append(f"a JSON body labelled {p.entry.value!r} was not read as JSON")

    return run


for _name in JSON_ENDPOINTS:
    CTYPE_PROBES[_name] = ctype_probe(_name)


@probe(CTYPE_PROBES, name="POST /embed/<key>")
def ctype_embed_post(p: Probe) -> None:
    for label, body in (
        ("form body", None),
        ("JSON body", b'{"body": "json", "captcha_token": "x", "captcha_answer": "y"}'),
    ):
        token, answer = fresh_captcha(p.world)
        if body is None:
            body = form(body=f"类型 {p.world.next()}", captcha_token=token, captcha_answer=answer)
        p.send(
            label,
            "POST",
            f"/embed/{POST_ARTICLE}",
            data=body,
            kind="html",
            headers={"Content-Type": p.entry.value},
        )


@probe(CTYPE_PROBES, name="POST /embed/<key>/report/<id>")
def ctype_report(p: Probe) -> None:
    for label, body in (("form body", form(reason="abuse")), ("JSON body", b'{"reason": "spam"}')):
        p.send(
            label,
            "POST",
            f"/embed/{ARTICLE}/report/{p.world.approved_id}",
            data=body,
            kind="html",
            headers={"Content-Type": p.entry.value},
        )


# --- first, the tests with an app of their own ---------------------------------------------
# (conftest's make_app; on PostgreSQL its teardown empties the shared database, so these
# run before the module's own app is built)


# generated bodies: 10 MB, deep nesting


@pytest.fixture
def targets(
    make_app: Callable[..., Flask], make_comment: Callable[..., int]
) -> Iterator[tuple[World, dict[str, tuple[str, str, str]]]]:
    """A fresh app (conftest's make_app), a published comment and a token; the endpoints."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)
    errors: list[str] = []

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        errors.append(describe(exception))

    got_request_exception.connect(record, app)
    approved = make_comment(article=ARTICLE)
    with app.app_context():
        moderator = auth.add_moderator(MODERATOR, MOD_PASSWORD)
        token = auth.create_token(moderator, "hostile")
    world = World(app, app.test_client(), token, approved, approved, errors)
    endpoints = {
        "POST /api/v1/counts": ("POST", "/api/v1/counts", "json"),
        "POST comments": ("POST", f"/api/v1/articles/{ARTICLE}/comments", "json"),
        "POST comments/own": ("POST", f"/api/v1/articles/{ARTICLE}/comments/own", "json"),
        "DELETE comment": ("DELETE", f"/api/v1/articles/{ARTICLE}/comments/{approved}", "json"),
        "POST mod action": ("POST", f"/api/v1/mod/comments/{approved}/approve", "json"),
        "POST /embed/<key>": ("POST", f"/embed/{ARTICLE}", "form"),
        "POST report": ("POST", f"/embed/{ARTICLE}/report/{approved}", "form"),
    }
    yield world, endpoints
    got_request_exception.disconnect(record, app)


BODY_ENDPOINTS = [
    "POST /api/v1/counts",
    "POST comments",
    "POST comments/own",
    "DELETE comment",
    "POST mod action",
    "POST /embed/<key>",
    "POST report",
]
JSON_BODY_ENDPOINTS = BODY_ENDPOINTS[:5]
GENERATED = Entry("generated", "generated", None, {}, {})


@pytest.mark.parametrize("endpoint", BODY_ENDPOINTS)
def test_ten_megabyte_bodies_are_refused(targets: Any, endpoint: str) -> None:
    world, endpoints = targets
    method, path, body_kind = endpoints[endpoint]
    p = Probe(world, GENERATED)
    kind = "json" if body_kind == "json" else "html"
    big_json = b'{"articles": ["' + b"a" * TEN_MB + b'"]}'
    big_form = b"body=" + b"a" * TEN_MB
    for label, body, content_type in (
        ("10 MB JSON", big_json, "application/json"),
        ("10 MB form", big_form, "application/x-www-form-urlencoded"),
        ("10 MB multipart", b"--x\r\n" + b"a" * TEN_MB, "multipart/form-data; boundary=x"),
    ):
        reads_it = (body_kind == "json") == (content_type == "application/json")
        p.send(
            label,
            method,
            path,
            data=body,
            content_type=content_type,
            kind=kind,
            headers=bearer(world),
            expect={413} if reads_it else None,
        )
    p.check()


@pytest.mark.parametrize(
    "path", ["/api/v1/counts", f"/api/v1/articles/{ARTICLE}/comments", f"/embed/{ARTICLE}"]
)
def test_ten_megabytes_to_read_only_routes(targets: Any, path: str) -> None:
    world, _ = targets
    p = Probe(world, GENERATED)
    kind = "html" if path.startswith("/embed") else "json"
    p.send("10 MB body on GET", "GET", path, data=b"x" * TEN_MB, kind=kind)
    keys = "&".join(f"article=k{i}" for i in range(100_000))  # about 1 MB of query string
    p.send("100,000 keys", "GET", f"{path}?{keys}", kind=kind)
    p.check()


def test_too_many_count_keys_are_refused(targets: Any) -> None:
    world, _ = targets
    p = Probe(world, GENERATED)
    keys = "&".join(f"article=k{i}" for i in range(201))
    p.send("201 keys", "GET", f"/api/v1/counts?{keys}", expect={400})
    p.send(
        "201 keys",
        "POST",
        "/api/v1/counts",
        json={"articles": [f"k{i}" for i in range(201)]},
        expect={400},
    )
    p.check()


NESTING = {
    "100,000 [ (over the size limit)": ("[" * 100_000, {413}),
    "60,000 [": ("[" * 60_000, {400}),
    "60,000 [ under a key": ('{"articles": ' + "[" * 60_000, {400}),
    "12,000 nested objects": ('{"a":' * 12_000, {400}),
    "900 levels, well formed": ('{"articles": ' + "[" * 900 + "]" * 900 + "}", None),
}


@pytest.mark.parametrize("endpoint", JSON_BODY_ENDPOINTS)
def test_deeply_nested_json(targets: Any, endpoint: str) -> None:
    world, endpoints = targets
    method, path, _ = endpoints[endpoint]
    p = Probe(world, GENERATED)
    for shape, (body, expect) in NESTING.items():
        p.send(
            shape,
            method,
            path,
            data=body.encode(),
            content_type="application/json",
            headers=bearer(world),
            expect=expect,
        )
    p.check()


@pytest.mark.parametrize("endpoint", JSON_BODY_ENDPOINTS)
def test_million_levels_under_a_larger_size_limit(
    make_app: Callable[..., Flask], endpoint: str
) -> None:
    """With the body limit raised, 1,000,000 nesting levels still only get a 400."""
    app = make_app(PROPAGATE_EXCEPTIONS=False, MAX_CONTENT_LENGTH=4 * 1024 * 1024)
    world = World(app, app.test_client(), "no-token", 1, 1)
    method, path = {
        "POST /api/v1/counts": ("POST", "/api/v1/counts"),
        "POST comments": ("POST", f"/api/v1/articles/{ARTICLE}/comments"),
        "POST comments/own": ("POST", f"/api/v1/articles/{ARTICLE}/comments/own"),
        "DELETE comment": ("DELETE", f"/api/v1/articles/{ARTICLE}/comments/1"),
        "POST mod action": ("POST", "/api/v1/mod/comments/1/approve"),
    }[endpoint]
    p = Probe(world, GENERATED)
    expect = {401} if "mod" in endpoint else {400}
    p.send(
        "1,000,000 [",
        method,
        path,
        data=b"[" * 1_000_000 + b"]" * 1_000_000,
        content_type="application/json",
        expect=expect,
    )
    p.check()


def test_captcha_test_mode_refuses_every_hostile_answer(make_app: Callable[..., Flask]) -> None:
    """With CAPTCHA_TEST_MODE on, only PASSED passes; any other answer (non-ASCII, lone
    surrogates included) is a wrong answer, never a server error."""
    app = make_app(CAPTCHA_TEST_MODE=True, PROPAGATE_EXCEPTIONS=False)
    errors: list[str] = []

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        errors.append(describe(exception))

    got_request_exception.connect(record, app)
    try:
        world = World(app, app.test_client(), "no-token", 0, 0, errors)
        answers = [e for e in of_kinds(*TEXT_KINDS) if type(e.value) is str]
        problems: list[str] = []
        for entry in answers:
            p = Probe(world, entry)
            token, _ = solve(world.client)
            body = json_with(
                {"body": "好", "captcha_token": token, "captcha_answer": SENTINEL}, entry.value
            )
            # Lone surrogates are refused with the body (400), as no database can store them.
            lone_surrogate = any("\ud800" <= c <= "\udfff" for c in entry.value)
            response = p.send(
                "captcha_answer=V",
                "POST",
                f"/api/v1/articles/{ARTICLE}/comments",
                data=body,
                content_type="application/json",
                expect={400} if lone_surrogate else {422},
            )
            p.expect_outcome(
                "captcha_answer=V",
                outcome(response, "captcha_answer"),
                ["bad_request"] if lone_surrogate else ["captcha_invalid"],
            )
            problems += [f"{entry.id}: {problem}" for problem in p.problems]
        assert not problems, "\n".join(problems)
    finally:
        got_request_exception.disconnect(record, app)


# --- the tests ------------------------------------------------------------------------------


def cases(probes: Probes, entries: list[Entry]) -> list[Any]:
    return [
        pytest.param(name, entry, id=f"{entry.id}@{name}") for entry in entries for name in probes
    ]


def run(world: World, probes: Probes, name: str, entry: Entry) -> None:
    p = Probe(world, entry)
    probes[name](p)
    p.check()


@pytest.mark.parametrize(("endpoint", "entry"), cases(TEXT_PROBES, of_kinds(*TEXT_KINDS)))
def test_text_payloads(world: World, endpoint: str, entry: Entry) -> None:
    run(world, TEXT_PROBES, endpoint, entry)


@pytest.mark.parametrize(("endpoint", "entry"), cases(KEY_PROBES, of_kinds("article_keys")))
def test_article_keys(world: World, endpoint: str, entry: Entry) -> None:
    run(world, KEY_PROBES, endpoint, entry)


@pytest.mark.parametrize(("endpoint", "entry"), cases(PAGE_PROBES, of_kinds("page_numbers")))
def test_page_numbers(world: World, endpoint: str, entry: Entry) -> None:
    run(world, PAGE_PROBES, endpoint, entry)


@pytest.mark.parametrize(("endpoint", "entry"), cases(ID_PROBES, of_kinds("comment_ids")))
def test_comment_ids(world: World, endpoint: str, entry: Entry) -> None:
    run(world, ID_PROBES, endpoint, entry)


@pytest.mark.parametrize(
    ("endpoint", "entry"), cases(JSON_PROBES, of_kinds("wrong_types", "huge_numbers"))
)
def test_wrong_types_and_numbers(world: World, endpoint: str, entry: Entry) -> None:
    run(world, JSON_PROBES, endpoint, entry)


@pytest.mark.parametrize(("endpoint", "entry"), cases(RAW_BODY_PROBES, of_kinds("malformed_json")))
def test_malformed_json(world: World, endpoint: str, entry: Entry) -> None:
    run(world, RAW_BODY_PROBES, endpoint, entry)


@pytest.mark.parametrize(("endpoint", "entry"), cases(CTYPE_PROBES, of_kinds("content_types")))
def test_content_types(world: World, endpoint: str, entry: Entry) -> None:
    run(world, CTYPE_PROBES, endpoint, entry)


ROUTES = [
    "/api/v1/counts",
    f"/api/v1/articles/{ARTICLE}/comments",
    f"/api/v1/articles/{ARTICLE}/comments/own",
    f"/api/v1/articles/{ARTICLE}/comments/{{pending}}",
    f"/api/v1/articles/{ARTICLE}/comments/{{approved}}/like",
    "/api/v1/openapi.json",
    "/api/v1/mod/comments",
    "/api/v1/mod/comments/{pending}/approve",
    f"/embed/{ARTICLE}",
    f"/embed/{ARTICLE}/report/{{approved}}",
    f"/embed/{ARTICLE}/like/{{approved}}",
    "/captcha",
    "/captcha/{token}.png",
    "/captcha/{token}.wav",
    "/embed.js",
    "/count.js",
    "/theme.css",
    "/healthz",
    "/demo",
    "/favicon.ico",
    "/",
    "/mod/login",
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("entry", of_kinds("methods"), ids=lambda e: e.id)
def test_wrong_methods(world: World, route: str, entry: Entry) -> None:
    method = entry.value
    token = "not-a-token"
    if "{token}" in route:
        token = world.client.get("/captcha").get_json()["token"]
    path = route.format(pending=world.pending_id, approved=world.approved_id, token=token)
    allowed = world.app.url_map.bind("localhost").allowed_methods(path)
    kind = "json" if path.startswith(("/api/", "/captcha")) else "html"
    p = Probe(world, entry)
    if method in allowed:
        p.send("allowed method", method, path, kind=kind, headers=bearer(world))
    elif method == "OPTIONS":
        p.send("OPTIONS", method, path, kind=kind, expect={200})
    else:
        response = p.send("method not allowed", method, path, kind=kind, expect={405})
        if response.status_code == 405 and not response.headers.get("Allow"):
            p.problems.append("405 without an Allow header")
    p.check()


# --- stored XSS: every page that shows a comment escapes it ----------------------------------

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "poster", "srcdoc"}
DANGEROUS_URL = re.compile(r"(javascript|vbscript|data):", re.I)
BENIGN = "benign alert https://www.portal.example/a"
XSS_REMOTE_ADDR = "198.51.100.23"


class PageMarkup(HTMLParser):
    """The tags (with their attribute names), handlers, URLs and text of a page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[tuple[str, tuple[str, ...]]] = set()
        self.handlers: list[str] = []
        self.urls: list[str] = []
        self.chunks: list[str] = []
        self.feed(page)
        self.close()
        self.text = "".join(self.chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add((tag, tuple(sorted({name for name, _ in attrs}))))
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
            squeezed = re.sub(r"[\s\x00-\x1f]", "", value or "")
            if name in URL_ATTRIBUTES and DANGEROUS_URL.match(squeezed):
                self.urls.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


@dataclass
class Stored:
    """One XSS entry stored as a comment with a reply, both approved."""

    key: str
    payload: str
    parent_id: int = 0
    reply_id: int = 0
    body: str = ""
    author: str = ""
    title: str | None = None
    url: str | None = None
    user_agent: str | None = None
    error: str | None = None


def author_for(payload: str) -> str:
    return payload if len(stored_author(payload)) <= 32 else payload[:32]


def user_agent_for(payload: str) -> str:
    return payload if payload.isascii() and payload.isprintable() else "<script>alert(1)</script>"


def store_xss(world: World, key: str, payload: str) -> Stored:
    item = Stored(key, payload)
    client = world.client
    environ = {"REMOTE_ADDR": XSS_REMOTE_ADDR}
    token, answer = solve(client)
    response = client.post(
        f"/api/v1/articles/{key}/comments",
        json={
            "body": payload,
            "author": author_for(payload),
            "title": payload,
            "url": "https://www.portal.example/a?q=" + payload,
            "captcha_token": token,
            "captcha_answer": answer,
        },
        headers={"User-Agent": user_agent_for(payload)},
        environ_base=environ,
    )
    if response.status_code != 202:
        item.error = f"storing it: {response.status_code} {short(response)}"
        return item
    item.parent_id = response.get_json()["id"]
    with world.app.app_context():  # only a published comment can be replied to
        moderation.apply(item.parent_id, moderation.Action.APPROVE)
    token, answer = solve(client)
    response = client.post(
        f"/api/v1/articles/{key}/comments",
        json={
            "body": f"回复 {key}",
            "reply_to": item.parent_id,
            "captcha_token": token,
            "captcha_answer": answer,
        },
        environ_base=environ,
    )
    if response.status_code != 202:
        item.error = f"replying to it: {response.status_code} {short(response)}"
        return item
    item.reply_id = response.get_json()["id"]
    with world.app.app_context():
        moderation.apply(item.reply_id, moderation.Action.APPROVE)
        parent = db.session.get(Comment, item.parent_id)
        assert parent is not None
        item.body, item.author, item.user_agent = parent.body, parent.author, parent.user_agent
        item.title, item.url = parent.article.title, parent.article.url
    return item


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token from the <meta> of the sign-in page (as in test_dashboard.py)."""
    page = client.get("/mod/login").get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert match, page
    return match.group(1)


def login(client: FlaskClient, name: str, password: str) -> TestResponse:
    token = csrf_token(client)
    return client.post(
        "/mod/login", data={"csrf_token": token, "username": name, "password": password}
    )


XSS_ENTRIES = of_kinds("xss")


@dataclass
class Gallery:
    world: World
    mod: FlaskClient
    items: dict[str, Stored]
    baseline: Stored
    baselines: dict[str, PageMarkup]
    home_before: PageMarkup


SURFACES: dict[str, Callable[[Gallery, Stored], TestResponse]] = {
    # The comment, the reply quoting it, and the form replying to it ("Reply to @name").
    "widget": lambda g, s: g.world.client.get(f"/embed/{s.key}?reply_to={s.parent_id}"),
    "widget form error": lambda g, s: g.world.client.post(
        f"/embed/{s.key}",
        data={
            "body": s.payload,
            "author": author_for(s.payload),
            "title": s.payload,
            "url": s.url or "",
            "reply_to": str(s.parent_id),
            "captcha_token": "not-a-token",
            "captcha_answer": "WRONG",
        },
    ),
    "moderation queue": lambda g, s: g.mod.get(f"/mod/queue/approved?article={s.key}"),
}


@pytest.fixture(scope="module")
def gallery(world: World) -> Gallery:
    mod = world.app.test_client()
    assert login(mod, MODERATOR, MOD_PASSWORD).status_code == 303
    # A decision by the moderator today, so the home page's table is in its baseline.
    decided = store_comment(world.app, MOD_ARTICLE, "今天的决定")
    path = f"/api/v1/mod/comments/{decided}/reject"
    assert world.client.post(path, headers=bearer(world)).status_code == 200
    home_before = PageMarkup(mod.get("/mod/").get_data(as_text=True))
    baseline = store_xss(world, "xss-baseline", BENIGN)
    assert baseline.error is None, baseline.error
    items = {e.id: store_xss(world, f"xss-{n}", e.value) for n, e in enumerate(XSS_ENTRIES)}
    baselines = {}
    for surface, fetch in SURFACES.items():
        response = fetch(Gallery(world, mod, items, baseline, {}, home_before), baseline)
        assert response.status_code in (200, 422), (surface, response.status_code)
        baselines[surface] = PageMarkup(response.get_data(as_text=True))
        assert not baselines[surface].handlers, (surface, baselines[surface].handlers)
    return Gallery(world, mod, items, baseline, baselines, home_before)


def markup_problems(page: str, found: PageMarkup, baseline: PageMarkup, item: Stored) -> list[str]:
    problems = [f"new markup {tag}" for tag in sorted(found.tags - baseline.tags)]
    problems += [f"event handler {h}" for h in found.handlers]
    problems += [f"dangerous URL {u}" for u in found.urls]
    if reflected(item.payload, page):
        problems.append("the raw payload is in the page")
    return problems


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("entry", XSS_ENTRIES, ids=lambda e: e.id)
def test_stored_xss_is_escaped(gallery: Gallery, entry: Entry, surface: str) -> None:
    item = gallery.items[entry.id]
    assert item.error is None, item.error
    assert item.body == stored_body(item.payload), "the comment is not stored as typed"
    response = SURFACES[surface](gallery, item)
    assert response.status_code == (422 if surface == "widget form error" else 200)
    page = response.get_data(as_text=True)
    found = PageMarkup(page)
    problems = markup_problems(page, found, gallery.baselines[surface], item)
    shown = {
        "widget": [item.body, item.author],
        "widget form error": [item.body],
        "moderation queue": [item.body, item.author, item.title or ""],
    }[surface]
    for value in shown:
        if value not in found.text:
            problems.append(f"the text {value[:60]!r} is not shown")
    # Where no link or highlight splits the text, it appears exactly escaped.
    escaped = str(escape(item.body))
    if surface in ("widget", "widget form error") and "http" not in item.body:
        if escaped not in page:
            problems.append(f"escaped body {escaped[:80]!r} not in the page")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("entry", XSS_ENTRIES, ids=lambda e: e.id)
def test_stored_xss_is_plain_text_in_the_json_apis(gallery: Gallery, entry: Entry) -> None:
    item = gallery.items[entry.id]
    assert item.error is None, item.error
    response = gallery.world.client.get(f"/api/v1/articles/{item.key}/comments")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    comments = {c["id"]: c for c in response.get_json()["comments"]}
    assert comments[item.parent_id]["body"] == item.body
    assert comments[item.parent_id]["author"] == item.author
    assert item.author == stored_author(author_for(item.payload)), "nickname not stored as sent"
    assert comments[item.reply_id]["reply_to"]["body"] == item.body
    response = gallery.world.client.get(
        "/api/v1/mod/comments",
        query_string={"status": "approved", "article": item.key},
        headers=bearer(gallery.world),
    )
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    mod = {c["id"]: c for c in response.get_json()["comments"]}[item.parent_id]
    assert (mod["body"], mod["author"]) == (item.body, item.author)
    assert (mod["article_title"], mod["article_url"]) == (item.title, item.url)
    assert mod["user_agent"] == item.user_agent


@pytest.mark.parametrize("page", ["/mod/", "/mod/queue/approved", "/mod/queue"])
def test_dashboard_pages_after_the_payloads(gallery: Gallery, page: str) -> None:
    """Pages listing many hostile comments (pages of them, some pending from the probes
    above): only tags and attributes the dashboard uses anyway, no handlers, no raw payload."""
    response = gallery.mod.get(page)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    known = set(gallery.home_before.tags).union(*(b.tags for b in gallery.baselines.values()))
    tag_names = {tag for tag, _ in known} | {"nav"}  # a queue with several pages has a <nav>
    attribute_names = {name for _, names in known for name in names}
    found = PageMarkup(html)
    problems = [
        f"unexpected markup <{tag} {' '.join(names)}>"
        for tag, names in sorted(found.tags)
        if tag not in tag_names or not set(names) <= attribute_names
    ]
    problems += [f"event handler {h}" for h in found.handlers]
    problems += [f"dangerous URL {u}" for u in found.urls]
    problems += [
        f"raw payload {item.payload!r}"
        for item in gallery.items.values()
        if reflected(item.payload, html)
    ]
    assert not problems, "\n".join(problems)


DASHBOARD_ID_ROUTES = {
    "POST /mod/comments/<id>/approve": "/mod/comments/{}/approve",
    "POST /mod/comments/<id>/actor": "/mod/comments/{}/actor",
    "POST /mod/tokens/<id>/revoke": "/mod/tokens/{}/revoke",
}


@pytest.mark.parametrize("route", DASHBOARD_ID_ROUTES)
@pytest.mark.parametrize("entry", of_kinds("comment_ids"), ids=lambda e: e.id)
def test_dashboard_ids(gallery: Gallery, entry: Entry, route: str) -> None:
    """The signed-in dashboard's id routes (with a valid CSRF token) take absurd ids too."""
    p = Probe(gallery.world, entry)
    path = DASHBOARD_ID_ROUTES[route].format(segment(entry.value))
    p.send(
        "id=V",
        "POST",
        path,
        data={"csrf_token": csrf_token(gallery.mod)},
        kind="html",
        client=gallery.mod,
        expect=id_expect(entry),
    )
    p.check()


@pytest.mark.parametrize("entry", of_kinds("page_numbers"), ids=lambda e: e.id)
def test_dashboard_queue_pages(gallery: Gallery, entry: Entry) -> None:
    p = Probe(gallery.world, entry)
    p.send(
        "page=V",
        "GET",
        "/mod/queue?" + query(page=entry.value),
        kind="html",
        client=gallery.mod,
        expect=page_expect(entry),
    )
    p.check()


def test_service_is_still_healthy_after_everything(world: World) -> None:
    response = world.client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
    with world.app.app_context():
        # The tables SQL injection strings talked about are all still there.
        assert db.session.scalar(select(func.count(Comment.id))) > 2
        assert db.session.scalar(select(func.count(Article.id))) >= 2
        assert db.session.scalar(select(func.count(Moderator.id))) == 1
        assert (
            db.session.scalar(
                select(func.count(Comment.id)).where(
                    Comment.status == Status.APPROVED, Comment.article.has(key=POST_ARTICLE)
                )
            )
            == 0
        ), "a hostile submission got published"
