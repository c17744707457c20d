"""Loopback helpers for tests of the running service: a TCP proxy to cut, gunicorn, HTTP.

``TcpProxy(port)`` listens on ``127.0.0.1:<ephemeral>`` and forwards every
connection to ``127.0.0.1:port``. ``cut()`` closes the listener and every open
connection (both sides are reset), so new connections are refused at once, as
when the server is down; ``restore()`` listens again on the same port. One
thread runs a selector loop for the listener and all connections; ``close()``
stops it and closes every socket (the class is also a context manager).

The real server is never touched: only the proxy's own sockets are closed.

``Gunicorn`` runs the service as in production (a master and its workers, in a
session of their own, logging to files) and ``fetch`` sends one request on a
fresh connection; ``Gunicorn.worker_serving`` tells which worker process holds
a still-open connection (from /proc), so a test can see where requests went.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BUFFER = 65536
# SO_LINGER on, timeout 0: close() sends a reset, like a crashed or unreachable server.
_RESET = struct.pack("ii", 1, 0)


class _Pipe:
    """One proxied connection: the client's socket and ours to the server."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.pending: dict[socket.socket, bytearray] = {client: bytearray(), server: bytearray()}

    def other(self, sock: socket.socket) -> socket.socket:
        return self.server if sock is self.client else self.client


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._pipes: set[_Pipe] = set()
        self._commands: list[tuple[Callable[[], Any], threading.Event, list[Any]]] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._running = True
        self._listen()
        self._thread = threading.Thread(target=self._loop, name=f"tcp-proxy-{self.port}")
        self._thread.daemon = True
        self._thread.start()

    # --- public -----------------------------------------------------------------------

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    @property
    def open_connections(self) -> int:
        return self._call(lambda: len(self._pipes))

    def cut(self) -> None:
        """Close the listener and every open connection; new connections are refused."""
        self._call(self._do_cut)

    def restore(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen)

    def close(self) -> None:
        if not self._running:
            return
        self._call(self._do_cut)
        self._running = False
        self._wake()
        self._thread.join(timeout=5)
        self._selector.unregister(self._wake_r)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- inside the loop thread -------------------------------------------------------

    def _call(self, command: Callable[[], Any]) -> Any:
        """Run ``command`` in the loop thread and wait for it (the selector isn't thread-safe)."""
        if threading.current_thread() is getattr(self, "_thread", None):
            return command()
        done = threading.Event()
        result: list[Any] = []
        with self._lock:
            self._commands.append((command, done, result))
        self._wake()
        if not done.wait(timeout=5):
            raise TimeoutError("tcp proxy loop did not answer")
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _listen(self) -> None:
        if self._listener is not None:
            return
        deadline = time.monotonic() + 5
        while True:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind(("127.0.0.1", self.port))
            except OSError:
                listener.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            break
        listener.listen(128)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, "listen")

    def _do_cut(self) -> None:
        if self._listener is not None:
            self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
        for pipe in list(self._pipes):
            self._drop(pipe)

    def _drop(self, pipe: _Pipe) -> None:
        self._pipes.discard(pipe)
        for sock in (pipe.client, pipe.server):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            sock.close()

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        self.accepted += 1
        try:
            server = socket.create_connection(self.target, timeout=2)
        except OSError:
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            client.close()
            return
        client.setblocking(False)
        server.setblocking(False)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pipe = _Pipe(client, server)
        self._pipes.add(pipe)
        self._selector.register(client, selectors.EVENT_READ, pipe)
        self._selector.register(server, selectors.EVENT_READ, pipe)

    def _interest(self, pipe: _Pipe, sock: socket.socket) -> None:
        """Read from a socket unless its peer is backed up; write while it has data queued."""
        events = 0
        if not pipe.pending[pipe.other(sock)]:
            events |= selectors.EVENT_READ
        if pipe.pending[sock]:
            events |= selectors.EVENT_WRITE
        registered = sock in self._selector.get_map()
        if events and registered:
            self._selector.modify(sock, events, pipe)
        elif events:
            self._selector.register(sock, events, pipe)
        elif registered:
            self._selector.unregister(sock)

    def _service(self, pipe: _Pipe, sock: socket.socket, mask: int) -> None:
        other = pipe.other(sock)
        try:
            if mask & selectors.EVENT_WRITE and pipe.pending[sock]:
                sent = sock.send(pipe.pending[sock])
                del pipe.pending[sock][:sent]
            if mask & selectors.EVENT_READ and not pipe.pending[other]:
                data = sock.recv(BUFFER)
                if not data:
                    self._drop(pipe)
                    return
                pipe.pending[other] += data
                sent = other.send(pipe.pending[other])
                del pipe.pending[other][:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(pipe)
            return
        self._interest(pipe, sock)
        self._interest(pipe, other)

    def _loop(self) -> None:
        while self._running:
            for key, mask in self._selector.select(timeout=0.5):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(BUFFER)
                elif key.data == "listen":
                    if self._listener is not None:
                        self._accept()
                else:
                    pipe: _Pipe = key.data
                    if pipe in self._pipes:
                        self._service(pipe, key.fileobj, mask)  # type: ignore[arg-type]
            with self._lock:
                commands, self._commands = self._commands, []
            for command, done, result in commands:
                try:
                    result.append(command())
                except BaseException as exc:  # handed back to the caller
                    result.append(exc)
                done.set()


# --- a real gunicorn and a tiny HTTP client ------------------------------------------------
#
# The fault, security and observability tests also need the service as it runs in
# production: a gunicorn master with workers. Both helpers stay on 127.0.0.1.

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = PROJECT_ROOT / ".venv" / "bin" / "gunicorn"
FLASK = PROJECT_ROOT / ".venv" / "bin" / "flask"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_environ(**settings: str) -> dict[str, str]:
    """This process's environment without any COMMENTS_*/PROMETHEUS_* setting, plus ``settings``."""
    env = {
        k: v
        for k, v in os.environ.items()
        # GUNICORN_CONTROL_SOCKET unset: no control socket (gunicorn.conf.py).
        if not k.startswith(("COMMENTS_", "PROMETHEUS_", "GUNICORN_"))
    }
    env.update(settings)
    return env


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes
    elapsed: float
    worker: int | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    port: int,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    find_worker: Callable[[int], int | None] | None = None,
) -> Reply:
    """One request on a fresh connection (closed afterwards)."""
    sent = dict(headers or {})
    body: bytes | None = None
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent.setdefault("Content-Type", "application/json")
    elif form is not None:
        body = urlencode(form).encode()
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        elapsed = time.monotonic() - started
        worker = None
        if find_worker is not None and connection.sock is not None:
            worker = find_worker(connection.sock.getsockname()[1])
        return Reply(response.status, response.headers, data, elapsed, worker)
    finally:
        connection.close()


class Gunicorn:
    """``gunicorn --bind 127.0.0.1:PORT --workers N`` from the project, logging to files.

    The project's gunicorn.conf.py applies (gthread workers, JSON logs, the
    secret-key check); stderr has the JSON log lines, stdout the access log.
    """

    def __init__(
        self, env: dict[str, str], log_dir: Path, workers: int = 2, args: tuple[str, ...] = ()
    ) -> None:
        self.port = free_port()
        self.workers = workers
        self.stderr_path = log_dir / f"gunicorn-{self.port}.err"
        self.stdout_path = log_dir / f"gunicorn-{self.port}.out"
        self._stderr = self.stderr_path.open("wb")
        self._stdout = self.stdout_path.open("wb")
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                *args,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 30) -> Reply:
        """Wait until /healthz answers (any status); raise if the master exits."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}: {self.stderr}")
            try:
                return fetch(self.port, "GET", "/healthz", timeout=2)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in children.read_text().split()}
        except OSError:
            return set()

    def worker_serving(self, client_port: int) -> int | None:
        """The worker process holding the server side of a client's open connection."""
        inode = _server_socket_inode(self.port, client_port)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for pid in self.worker_pids():
            fds = Path(f"/proc/{pid}/fd")
            with contextlib.suppress(OSError):
                for fd in fds.iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd) == target:
                            return pid
        return None

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text("utf-8", "replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text("utf-8", "replace")

    def stop(self, timeout: float = 10) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._stderr.close()
        self._stdout.close()
        return self.process.returncode


def _server_socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server's socket of 127.0.0.1:client_port -> 127.0.0.1:server_port."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    with contextlib.suppress(OSError), open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                return int(fields[9])
    return None
