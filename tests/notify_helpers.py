"""Real receivers on 127.0.0.1 for the notification tests, and a job worker in threads.

- ``Receiver``: an HTTP server in a thread that checks each request the way
  the other side does (our HMAC header, DingTalk's query signature, Feishu's
  body signature), records it, and answers from a script (500 first, then 200).
- ``SmtpServer``: aiosmtpd on 127.0.0.1, optionally with STARTTLS and AUTH.
- ``running_worker``: a huey consumer of the app's queue in this process
  (threads), stopped at the end; it leaves pytest's signal handlers alone.

Everything binds to 127.0.0.1 on a free port and stops by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flask import Flask
from huey.consumer import Consumer

from service.jobs import queue_of

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    return free_port()


# --- the platforms' checks, written from their documentation (not from our code) --------


def dingtalk_expected_sign(timestamp: str, secret: str) -> str:
    """DingTalk's documented Python sample (custom robot, 加签), before URL encoding."""
    secret_enc = secret.encode("utf-8")
    string_to_sign = f"{timestamp}\n{secret}"
    string_to_sign_enc = string_to_sign.encode("utf-8")
    hmac_code = hmac.new(secret_enc, string_to_sign_enc, digestmod=hashlib.sha256).digest()
    return base64.b64encode(hmac_code).decode("utf-8")


def feishu_expected_sign(timestamp: str, secret: str) -> str:
    """Feishu/Lark's documented Python sample (custom robot, 签名校验)."""
    string_to_sign = f"{timestamp}\n{secret}"
    hmac_code = hmac.new(string_to_sign.encode("utf-8"), digestmod=hashlib.sha256).digest()
    return base64.b64encode(hmac_code).decode("utf-8")


def generic_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """What docs/operations.md tells a portal to do with X-Comments-Signature."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


# --- an HTTP receiver --------------------------------------------------------------------


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None
    thread: str

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Receiver:
    """``kind``: generic, dingtalk, feishu or wecom; ``answers``: HTTP statuses in turn
    (the last repeats), or "refuse" for a robot's HTTP 200 with an error code."""

    kind: str = "generic"
    secret: str | None = None
    answers: list[int | str] = field(default_factory=lambda: [200])
    hold: threading.Event | None = None  # if given, every answer waits for it
    requests: list[Received] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"

    def _check(self, query: dict[str, str], headers: dict[str, str], body: bytes) -> bool | None:
        if self.secret is None:
            return None
        if self.kind == "generic":
            return generic_signature_ok(self.secret, body, headers.get("x-comments-signature"))
        if self.kind == "dingtalk":
            stamp, sign = query.get("timestamp", ""), query.get("sign", "")
            fresh = abs(int(stamp or 0) / 1000 - time.time()) < 3600
            return fresh and sign == dingtalk_expected_sign(stamp, self.secret)
        if self.kind == "feishu":
            data = json.loads(body)
            stamp = str(data.get("timestamp", ""))
            fresh = abs(int(stamp or 0) - time.time()) < 3600
            return fresh and data.get("sign") == feishu_expected_sign(stamp, self.secret)
        return None

    def _answer(self, index: int, signature_ok: bool | None) -> tuple[int, bytes]:
        answer = self.answers[min(index, len(self.answers) - 1)]
        robot = self.kind in ("dingtalk", "feishu", "wecom")
        if signature_ok is False:
            if robot:  # robots say so in an HTTP 200, with an error code
                code = 310000 if self.kind == "dingtalk" else 19021
                return 200, json.dumps({"errcode": code, "code": code, "msg": "sign"}).encode()
            return 401, b"bad signature"
        if answer == "refuse":
            return 200, json.dumps({"errcode": 93000, "code": 9499, "msg": "refused"}).encode()
        if answer != 200:
            return int(answer), b"not now"
        if self.kind == "feishu":
            return 200, json.dumps({"code": 0, "msg": "success", "data": {}}).encode()
        if robot:
            return 200, json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
        return 200, b"ok"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = receiver._check(query, headers, body)
                with receiver._changed:
                    index = len(receiver.requests)
                    receiver.requests.append(
                        Received(
                            parts.path, query, headers, body, ok, threading.current_thread().name
                        )
                    )
                    receiver._changed.notify_all()
                receiver.started.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                status, answer = receiver._answer(index, ok)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                receiver.answered.set()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        """Block until ``count`` requests arrived; fail the test if they do not."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.requests)} of {count} requests within {timeout} s"
                self._changed.wait(left)
            return list(self.requests)


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    server = Receiver(**options).start()
    try:
        yield server
    finally:
        server.stop()


# --- an SMTP server ---------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.changed:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
            self.changed.notify_all()
        return "250 OK"


@dataclass
class SmtpServer:
    port: int
    inbox: _Inbox
    logins: list[tuple[str, str]]

    @property
    def messages(self) -> list[tuple[str, list[str], EmailMessage]]:
        return self.inbox.messages

    def wait_for(self, count: int, timeout: float = 15) -> list[tuple[str, list[str], Any]]:
        deadline = time.monotonic() + timeout
        with self.inbox.changed:
            while len(self.inbox.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.inbox.messages)} of {count} mails within {timeout} s"
                self.inbox.changed.wait(left)
            return list(self.inbox.messages)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (made with the openssl command) and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@contextmanager
def smtp_server(
    user: str | None = None, password: str | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1; with ``user`` it demands AUTH, with ``tls`` STARTTLS."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    inbox = _Inbox()
    logins: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        if isinstance(data, LoginPassword):
            pair = (data.login.decode(), data.password.decode())
            logins.append(pair)
            return AuthResult(success=pair == (user, password), handled=False)
        return AuthResult(success=False, handled=False)

    options: dict[str, Any] = {}
    if user is not None:
        options.update(authenticator=authenticator, auth_required=True)
        options["auth_require_tls"] = tls is not None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        options.update(tls_context=context, require_starttls=True)
    port = free_port()
    controller = Controller(inbox, hostname=HOST, port=port, **options)
    controller.start()
    try:
        yield SmtpServer(port, inbox, logins)
    finally:
        controller.stop()


# --- a job worker in this process ---------------------------------------------------------


class ThreadWorker(Consumer):
    """huey's consumer, minus the signal handlers it would install in the test process."""

    def _set_signal_handlers(self) -> None:
        pass


@contextmanager
def running_worker(app: Flask, workers: int = 2) -> Iterator[ThreadWorker]:
    """Threads consuming the app's queue (no periodic jobs) until the block ends."""
    worker = ThreadWorker(
        queue_of(app).consumer_huey(),
        workers=workers,
        periodic=False,
        initial_delay=0.01,
        max_delay=0.05,
        check_worker_health=False,
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(graceful=True)


def wait_until(check: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.02)
