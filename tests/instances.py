"""Run real gunicorn instances of the service and talk to them over HTTP.

Used by ``tests/test_instances.py`` and ``scripts/loadtest.py``. Everything
stays on 127.0.0.1: each instance is a gunicorn master with its workers in a
process group of its own, logging to files, stopped (SIGTERM, then SIGKILL) by
``Instance.stop``. HTTP uses only the standard library (``http.client``) and
closes every socket it opens.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PG_ADMIN_CONNINFO = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL_TEMPLATE = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
MODERATOR_PASSWORD = "load-test-password-1234"
DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def venv_tool(name: str) -> list[str]:
    """The command for a console script of this interpreter's environment."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", name]


def new_secret_key() -> str:
    """64 hex characters, the same for every instance of one deployment."""
    return secrets.token_hex(32)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --- backing services ---------------------------------------------------------


def postgres_problem(conninfo: str = PG_ADMIN_CONNINFO) -> str | None:
    """None if PostgreSQL answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL at {conninfo} does not answer: {type(error).__name__}: {error}"
    return None


def redis_problem(url: str) -> str | None:
    """None if Redis answers at ``url``, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as error:  # noqa: BLE001
        return f"Redis at {url} does not answer: {type(error).__name__}: {error}"
    finally:
        client.close()
    return None


def recreate_postgres_database(name: str, conninfo: str = PG_ADMIN_CONNINFO) -> str:
    """Drop (with its connections) and create database ``name``; its SQLAlchemy URL."""
    import psycopg
    from psycopg import sql

    if not DATABASE_NAME.fullmatch(name) or name in {"postgres", "test", "template0", "template1"}:
        raise ValueError(f"refusing to recreate database {name!r}")
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return PG_URL_TEMPLATE.format(name=name)


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.flushdb()
    finally:
        client.close()


# --- the service's own command line ----------------------------------------------


def service_env(**settings: object) -> dict[str, str]:
    """This process's environment without any COMMENTS_*, plus ``COMMENTS_<key>`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMENTS_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[f"COMMENTS_{key}"] = str(value)
    return env


def flask_cli(
    args: list[str], env: Mapping[str, str], stdin: str = "", timeout: float = 120
) -> str:
    """``flask --app wsgi ARGS`` from the project root; its stdout, or RuntimeError."""
    done = subprocess.run(
        [*venv_tool("flask"), "--app", "wsgi", *args],
        cwd=PROJECT_ROOT,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"flask {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def migrate(env: Mapping[str, str]) -> None:
    flask_cli(["db", "upgrade"], env)


def add_moderator_token(
    env: Mapping[str, str], username: str = "loadmod", password: str = MODERATOR_PASSWORD
) -> str:
    """Create an admin with the CLI and an API token for it; the token."""
    flask_cli(["moderators", "add", username, "--admin"], env, stdin=password + "\n")
    out = flask_cli(["moderators", "token", username, "--name", "instances"], env)
    tokens = [line.strip() for line in out.splitlines() if line.strip().startswith("cmt_")]
    if not tokens:
        raise RuntimeError(f"no token in the output of 'moderators token': {out!r}")
    return tokens[-1]


# --- gunicorn instances -------------------------------------------------------------


@dataclass
class Instance:
    """One gunicorn master (and its workers) in a process group of its own."""

    name: str
    env: dict[str, str]
    log_dir: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _files: list[BinaryIO] = field(default_factory=list)
    _terminated: bool = False

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_paths(self) -> list[Path]:
        return [self.log_dir / f"{self.name}.stdout.log", self.log_dir / f"{self.name}.stderr.log"]

    def start(self) -> None:
        if self.proc is not None:
            raise RuntimeError(f"instance {self.name} already started")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._files = [path.open("wb") for path in self.log_paths]
        command = [
            *venv_tool("gunicorn"),
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(self.workers),
            # Two masters on one host must not share gunicorn's default control socket
            # ($HOME/.gunicorn/gunicorn.ctl): the second would take it from the first.
            "--no-control-socket",
        ]
        try:
            self.proc = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=self._files[0],
                stderr=self._files[1],
                start_new_session=True,
            )
        except BaseException:
            for handle in self._files:
                handle.close()
            self._files = []
            raise

    def wait_healthy(self, timeout: float = 60) -> dict[str, Any]:
        """Wait for ``GET /healthz`` to answer 200; its JSON."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"instance {self.name} exited early:\n{self.log_tail()}")
            try:
                response = request(self.url, "GET", "/healthz", timeout=5)
            except OSError as error:
                last = error
            else:
                if response.status == 200:
                    return response.json()
                last = response.status
            time.sleep(0.1)
        raise RuntimeError(f"instance {self.name} not healthy after {timeout}s ({last!r})")

    def terminate(self) -> None:
        """Ask for a graceful stop (SIGTERM to the group) without waiting."""
        if self.proc is not None and self.proc.poll() is None and not self._terminated:
            _signal_group(self.proc.pid, signal.SIGTERM)
            self._terminated = True

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the process group, SIGKILL if it lingers; always reaped."""
        try:
            self.terminate()
            proc, self.proc = self.proc, None
            if proc is not None:
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                # Workers orphaned by a master that died hard would still be in the group.
                _signal_group(proc.pid, signal.SIGKILL)
        finally:
            self._terminated = False
            for handle in self._files:
                handle.close()
            self._files = []

    def log_text(self) -> str:
        return "\n".join(
            path.read_text(encoding="utf-8", errors="replace")
            for path in self.log_paths
            if path.exists()
        )

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def running(*instances: Instance, timeout: float = 60) -> Iterator[tuple[Instance, ...]]:
    """Start instances together, wait until each is healthy, stop them all at the end."""
    try:
        for instance in instances:
            instance.start()
        for instance in instances:
            instance.wait_healthy(timeout)
        yield instances
    finally:
        stop_all(instances)


def stop_all(instances: Iterable[Instance]) -> None:
    """Stop instances in parallel (a graceful gunicorn stop takes about 2 s)."""
    instances = list(instances)
    for instance in instances:
        try:
            instance.terminate()
        except OSError:
            pass
    for instance in instances:
        instance.stop()


# --- HTTP -------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body)


def _encode(json_body: object, headers: Mapping[str, str] | None) -> tuple[bytes | None, dict]:
    sent = {"Accept": "application/json", **(headers or {})}
    if json_body is None:
        return None, sent
    sent["Content-Type"] = "application/json"
    return json.dumps(json_body, ensure_ascii=False).encode(), sent


def _exchange(
    conn: http.client.HTTPConnection, method: str, path: str, payload: bytes | None, headers: dict
) -> Response:
    started = time.perf_counter()
    conn.request(method, path, body=payload, headers=headers)
    reply = conn.getresponse()
    body = reply.read()
    elapsed = time.perf_counter() - started
    return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, body, elapsed)


def connection(base_url: str, timeout: float = 30) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http://host:port URLs: {base_url!r}")
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)


def request(
    base_url: str,
    method: str,
    path: str,
    json_body: object = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15,
) -> Response:
    """One request on a connection of its own, closed afterwards."""
    payload, sent = _encode(json_body, headers)
    conn = connection(base_url, timeout)
    try:
        return _exchange(conn, method, path, payload, sent)
    finally:
        conn.close()


def send_on(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    json_body: object = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A request on a connection the caller opened (e.g. before a barrier)."""
    payload, sent = _encode(json_body, headers)
    return _exchange(conn, method, path, payload, sent)


RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class Client:
    """Keep-alive connections to several instances, for one thread.

    A connection idle longer than ``max_idle`` (gunicorn closes idle keep-alive
    connections after 2 s) is replaced before use. Only idempotent requests are
    retried, once, if the server closed the connection under us.
    """

    def __init__(self, timeout: float = 30, max_idle: float = 1.0) -> None:
        self.timeout = timeout
        self.max_idle = max_idle
        self._conns: dict[str, tuple[http.client.HTTPConnection, float]] = {}

    def _conn(self, base_url: str) -> http.client.HTTPConnection:
        found = self._conns.get(base_url)
        if found is not None:
            conn, last_used = found
            if time.monotonic() - last_used <= self.max_idle:
                return conn
            conn.close()
        conn = connection(base_url, self.timeout)
        self._conns[base_url] = (conn, time.monotonic())
        return conn

    def _drop(self, base_url: str) -> None:
        found = self._conns.pop(base_url, None)
        if found is not None:
            found[0].close()

    def request(
        self,
        base_url: str,
        method: str,
        path: str,
        json_body: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        payload, sent = _encode(json_body, headers)
        attempts = 2 if method in ("GET", "HEAD") else 1
        for attempt in range(attempts):
            conn = self._conn(base_url)
            try:
                response = _exchange(conn, method, path, payload, sent)
            except RETRYABLE:
                self._drop(base_url)
                if attempt + 1 == attempts:
                    raise
                continue
            except BaseException:
                self._drop(base_url)
                raise
            self._conns[base_url] = (conn, time.monotonic())
            return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        for conn, _ in self._conns.values():
            conn.close()
        self._conns.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
