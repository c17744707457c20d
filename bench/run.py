#!/usr/bin/env python3
"""Side-by-side benchmark of the comment service, Isso 0.14.0 and a hello-world ceiling.

One command (run it with the service's Python, from anywhere)::

    .venv/bin/python bench/run.py            # the full run: 200,000 and 2,000,000 comments
    .venv/bin/python bench/run.py --quick    # 20,000 and 200,000 comments, short runs

It sets up Isso in a venv of its own (``bench/.work/isso-venv``), generates the
data into an Isso database with Isso's own schema (``bench/isso_data.py``),
imports it into ours with the real importer (``flask --app wsgi import isso``),
starts the three servers under the same gunicorn settings (2 sync workers on
127.0.0.1; the peer and the ceiling from other folders, so that gunicorn does
not read our gunicorn.conf.py), drives them with ``wrk`` (or a small Python
client when wrk is absent), measures posting with a real captcha round trip on
SQLite and PostgreSQL, captcha images, memory, growth at 10x the data, and the
service behind nginx configured from ``deploy/nginx.conf``; then prints one
table. Everything talks to 127.0.0.1 only, every load run is bounded in time,
and every process it starts is stopped at the end (also on Ctrl-C).

Generated data and databases are kept in ``bench/.work`` (not in git) and
reused by the next run with the same sizes; ``--fresh`` rebuilds them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import instances  # noqa: E402 - the HTTP and CLI helpers the load tests share

HOST = "127.0.0.1"
ISSO_VERSION = "0.14.0"
PG_DATABASE = "bench_comments"
REDIS_DB = 12  # our own Redis database number; only this one is flushed
URI_BASE = 100000
MODERATOR = "benchmod"
PASSWORD = "bench-password-1234567"


# --- sizes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    articles: int
    comments: int
    scale_comments: int
    duration: float
    warmup: float
    posting_seconds: float
    max_age: int
    hot_min: int

    @classmethod
    def of(cls, args: argparse.Namespace) -> Plan:
        if args.quick:
            plan = cls(1_000, 20_000, 200_000, 5, 1.5, 8, 10, 500)
        else:
            plan = cls(10_000, 200_000, 2_000_000, 15, 3, 20, 30, 1_000)
        if args.duration:
            plan = cls(**{**plan.__dict__, "duration": args.duration})
        return plan


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A gunicorn master (or nginx) in a process group of its own, logging to a file."""

    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, path: str = "/", timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{tail(self.log)}")
            try:
                if instances.request(self.url, "GET", path, timeout=5).status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {path} in {timeout}s:\n{tail(self.log)}")

    def workers(self) -> list[int]:
        """Worker pids: the master's children."""
        if self.proc is None:
            return []
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the workers."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.workers():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    def rss_mib(self) -> list[float]:
        """Resident memory of each worker, in MiB."""
        sizes = []
        for pid in self.workers():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) / 1024)
            except OSError:
                continue
        return sizes

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def running(*servers: Server, ready: str | list[str] = "/") -> Iterator[tuple[Server, ...]]:
    paths = ready if isinstance(ready, list) else [ready] * len(servers)
    try:
        for server in servers:
            server.start()
        for server, path in zip(servers, paths, strict=True):
            server.wait_ready(path)
        yield servers
    finally:
        for server in servers:
            server.stop()


GUNICORN_ARGS = ["--workers", "2", "--worker-class", "sync", "--threads", "1"]


def gunicorn(
    venv_bin: Path, name: str, app: str | None, cwd: Path, env: dict[str, str], work: Path
) -> Server:
    """The same gunicorn settings for all three: 2 sync workers, loopback, an access log."""
    port = free_port()
    command = [
        str(venv_bin / "gunicorn"),
        *GUNICORN_ARGS,
        "--bind",
        f"{HOST}:{port}",
        "--access-logfile",
        str(work / "logs" / f"{name}.access.log"),
        "--no-control-socket",
    ]
    if app:
        command.append(app)
    return Server(name, command, cwd, env, work / "logs" / f"{name}.log", port)


# --- load --------------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def write_pool(work: Path, name: str, lines: list[str]) -> Path:
    path = work / "pools" / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def drive(
    url: str,
    pool: Path,
    seconds: float,
    server: Server | None = None,
    connections: int = 8,
    headers: dict[str, str] | None = None,
) -> Load:
    """wrk -t2 -c8 over the pool for ``seconds`` (a Python client when wrk is absent)."""
    before = server.cpu_seconds() if server else 0.0
    if shutil.which("wrk"):
        extra = [item for pair in (headers or {}).items() for item in pair]
        done = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(BENCH / "pool.lua"),
                url,
                "--",
                str(pool),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
        line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
        data = json.loads(line)
        errors = sum(
            data[k]
            for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
        )
        load = Load(data["requests"], data["seconds"], data["p50_ms"], data["p99_ms"], errors)
    else:
        load = python_drive(url, pool, seconds, connections, headers or {})
    if server:
        load.cpu_ms = (server.cpu_seconds() - before) * 1000 / max(1, load.requests)
    return load


def python_drive(
    url: str, pool: Path, seconds: float, connections: int, headers: dict[str, str]
) -> Load:
    """The fallback load generator: ``connections`` threads, one connection per request."""
    lines = [line.split("\t") for line in pool.read_text(encoding="utf-8").splitlines() if line]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        rng = random.Random()
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline:
            method, path, *body = rng.choice(lines)
            payload = json.loads(body[0]) if body and body[0] else None
            try:
                answer = instances.request(url, method, path, payload, headers, timeout=10)
                if answer.status >= 400:
                    failed += 1
                mine.append(answer.elapsed * 1000)
            except OSError:
                failed += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    return Load(len(latencies), elapsed, pct(0.5), pct(0.99), errors[0])


PROFILE_DIR: Path | None = None  # set by --profile


def combine(parts: list[Load]) -> Load:
    """Slices of one measurement as one: rates over the summed time, the worst p99."""
    requests = sum(p.requests for p in parts)
    cpu = [p.cpu_ms * p.requests for p in parts if p.cpu_ms is not None]
    return Load(
        requests,
        sum(p.seconds for p in parts),
        statistics.median(p.p50_ms for p in parts),
        max(p.p99_ms for p in parts),
        sum(p.errors for p in parts),
        sum(cpu) / max(1, requests) if cpu else None,
    )


def paired(
    server: Server,
    pool: Path,
    ceiling: Server,
    ceiling_pool: Path,
    plan: Plan,
    headers: dict[str, str] | None = None,
    rounds: int = 3,
) -> tuple[Load, Load]:
    """The server and the ceiling measured in alternating slices of the same minute.

    The machine is shared: its load drifts between two measurements taken one
    after the other. Alternating short slices exposes both to the same drift, so
    their ratio means something even when the absolute rates move.
    """
    drive(server.url, pool, plan.warmup, None, headers=headers)
    drive(ceiling.url, ceiling_pool, 1, None)
    piece = max(1.0, plan.duration / rounds)
    mine: list[Load] = []
    theirs: list[Load] = []
    for _ in range(rounds):
        theirs.append(drive(ceiling.url, ceiling_pool, piece, ceiling))
        mine.append(drive(server.url, pool, piece, server, headers=headers))
    if PROFILE_DIR is not None:
        measure(server.url, pool, plan, server, headers)
    return combine(mine), combine(theirs)


def measure(
    url: str,
    pool: Path,
    plan: Plan,
    server: Server | None = None,
    headers: dict[str, str] | None = None,
) -> Load:
    """A warm-up run (discarded), then the measured run (profiled with py-spy if asked)."""
    drive(url, pool, plan.warmup, None, headers=headers)
    if PROFILE_DIR is None or server is None or not server.workers():
        return drive(url, pool, plan.duration, server, headers=headers)
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    svg = PROFILE_DIR / f"{server.name}-{pool.stem}.svg"
    spy = subprocess.Popen(
        [
            str(venv_bin() / "py-spy"),
            "record",
            "--pid",
            str(server.workers()[0]),
            "--duration",
            str(max(1, round(plan.duration))),
            "--rate",
            "250",
            "--output",
            str(svg),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return drive(url, pool, plan.duration, server, headers=headers)
    finally:
        spy.wait(timeout=60)


# --- Isso and the data -----------------------------------------------------------------


def ours_gunicorn_version() -> str:
    import gunicorn

    return gunicorn.__version__


def setup_isso(work: Path) -> Path:
    """Isso 0.14.0 and our gunicorn version in a venv of their own; its bin folder."""
    venv = work / "isso-venv"
    python = venv / "bin" / "python"
    want = f"isso=={ISSO_VERSION} gunicorn=={ours_gunicorn_version()}"
    marker = venv / ".bench-installed"
    if marker.exists() and marker.read_text() == want:
        return venv / "bin"
    if not python.exists():
        print(f"· creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    print(f"· pip install {want} (Isso's own venv, never a dependency of the service)")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *want.split()], check=True)
    marker.write_text(want)
    return venv / "bin"


@dataclass
class Dataset:
    comments: int
    isso_db: Path
    ours_db: Path
    info: dict[str, Any]

    @property
    def hot(self) -> str:
        return self.info["hottest_key"]

    @property
    def median(self) -> str:
        return self.info["median_key"]


def make_dataset(work: Path, isso_bin: Path, plan: Plan, comments: int, fresh: bool) -> Dataset:
    """The Isso database (generated) and ours (imported from it), reused when present."""
    name = f"{plan.articles}a-{comments}c"
    isso_db = work / f"isso-{name}.db"
    info_path = work / f"isso-{name}.json"
    if fresh or not (isso_db.exists() and info_path.exists()):
        print(
            f"· generating {comments:,} comments on {plan.articles:,} articles into {isso_db.name}"
        )
        out = subprocess.run(
            [
                str(isso_bin / "python"),
                str(BENCH / "isso_data.py"),
                str(isso_db),
                "--articles",
                str(plan.articles),
                "--comments",
                str(comments),
                "--hot-min",
                str(plan.hot_min),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        info_path.write_text(out.strip().splitlines()[-1])
    info = json.loads(info_path.read_text())
    ours_db = work / f"ours-{name}.db"
    marker = work / f"ours-{name}.imported"
    if fresh or not (ours_db.exists() and marker.exists()):
        for stale in work.glob(f"ours-{name}.db*"):
            stale.unlink()
        env = instances.service_env(
            DATABASE_URL=f"sqlite:///{ours_db}", SECRET_KEY=instances.new_secret_key()
        )
        instances.flask_cli(["db", "upgrade"], env)
        print(f"· importing {isso_db.name} with `flask --app wsgi import isso`")
        started = time.monotonic()
        instances.flask_cli(["import", "isso", str(isso_db)], env, timeout=3 * 3600)
        info["import_seconds"] = round(time.monotonic() - started, 1)
        marker.write_text(json.dumps(info))
    else:
        # Kept from an earlier run: bring its schema up to this checkout's migrations.
        instances.flask_cli(
            ["db", "upgrade"],
            instances.service_env(DATABASE_URL=f"sqlite:///{ours_db}", SECRET_KEY=SECRET),
        )
    info = {**info, **json.loads(marker.read_text())}
    return Dataset(comments, isso_db, ours_db, info)


def scratch_copy(source: Path, work: Path, name: str) -> Path:
    """A copy of an SQLite database to write to (posting, moderation)."""
    target = work / name
    for old in work.glob(name + "*"):
        old.unlink()
    con = sqlite3.connect(source)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    shutil.copy(source, target)
    return target


# --- the three servers ----------------------------------------------------------------------


def venv_bin() -> Path:
    return Path(sys.executable).parent


def ours_env(database_url: str, plan: Plan, work: Path, **settings: Any) -> dict[str, str]:
    """Production-like settings: rate limits on and shared through Redis, metrics on."""
    metrics = Path(tempfile.mkdtemp(prefix="metrics-", dir=work))
    env = instances.service_env(
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET,
        REDIS_URL=f"redis://{HOST}:6379/{REDIS_DB}",
        PUBLIC_MAX_AGE=plan.max_age,
        ALLOWED_ORIGINS='["https://www.portal.example"]',
        **settings,
    )
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    return env


SECRET = instances.new_secret_key()


def ours_server(name: str, env: dict[str, str], work: Path) -> Server:
    # From the project root: our gunicorn.conf.py (its secret-key check, JSON logs)
    # applies, with the shared settings given on the command line winning.
    return gunicorn(venv_bin(), name, None, ROOT, env, work)


def isso_server(isso_bin: Path, dataset: Dataset, work: Path) -> Server:
    folder = work / "isso"
    folder.mkdir(exist_ok=True)
    port = free_port()
    config = folder / "isso.cfg"
    config.write_text(
        "[general]\n"
        f"dbpath = {dataset.isso_db}\n"
        f"host = http://{HOST}:{port}/\n"
        "[server]\n"
        f"listen = http://{HOST}:{port}/\n"
        "[moderation]\nenabled = true\npurge-after = 36500d\n"
        "[guard]\nenabled = false\n"
        "[admin]\nenabled = false\n"
    )
    env = {**os.environ, "ISSO_SETTINGS": str(config)}
    server = gunicorn(isso_bin, "isso", "isso.run", folder, env, work)
    server.port = port
    server.command[server.command.index("--bind") + 1] = f"{HOST}:{port}"
    return server


def ceiling_server(work: Path) -> Server:
    return gunicorn(venv_bin(), "ceiling", "ceiling:app", BENCH, dict(os.environ), work)


# --- pools of requests ---------------------------------------------------------------------


def counts_pools(work: Path, plan: Plan, seed: int = 12) -> tuple[Path, Path]:
    """1,000 listing pages of 20 random articles each: ours (GET) and Isso's (POST /count)."""
    rng = random.Random(seed)
    keys = [str(URI_BASE + n) for n in range(plan.articles)]
    pages = [rng.sample(keys, 20) for _ in range(1000)]
    ours = write_pool(
        work,
        "counts-ours",
        ["GET\t/api/v1/counts?" + "&".join(f"article={k}" for k in page) for page in pages],
    )
    isso = write_pool(
        work,
        "counts-isso",
        ["POST\t/count\t" + json.dumps([f"/news/{k}.html" for k in page]) for page in pages],
    )
    return ours, isso


def one(work: Path, name: str, path: str) -> Path:
    return write_pool(work, name, [f"GET\t{path}"])


# --- measurements --------------------------------------------------------------------------


@dataclass
class Results:
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, what: str, ours: str, isso: str = "", ratio: str = "", target: str = "") -> None:
        self.rows.append((what, ours, isso, ratio, target))
        print(f"  {what}: {ours} {isso} {ratio} {target}", flush=True)


def fmt(load: Load) -> str:
    cpu = f", {load.cpu_ms:.2f} ms CPU/req" if load.cpu_ms is not None else ""
    err = f", {load.errors} errors" if load.errors else ""
    return f"{load.rps:,.0f}/s (p99 {load.p99_ms:.1f} ms{cpu}{err})"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


ACCEPT = {"Accept-Encoding": "gzip, br", "Accept-Language": "zh-CN,zh;q=0.9"}


def read_phase(
    work: Path, plan: Plan, data: Dataset, isso_bin: Path | None, results: Results, label: str
) -> dict[str, Any]:
    """Counts, widget and comments JSON on ours, Isso and the ceiling; memory after."""
    counts_ours, counts_isso = counts_pools(work, plan)
    pools = {
        "ceiling": one(work, "ceiling", "/"),
        "w_med": one(work, "widget-median", f"/embed/{data.median}"),
        "w_hot": one(work, "widget-hot", f"/embed/{data.hot}"),
        "j_med": one(work, "json-median", f"/api/v1/articles/{data.median}/comments"),
        "j_hot": one(work, "json-hot", f"/api/v1/articles/{data.hot}/comments"),
        "i_med": one(
            work, "isso-median", f"/?uri=/news/{data.median}.html&limit=20&nested_limit=5"
        ),
        "i_hot": one(work, "isso-hot", f"/?uri=/news/{data.hot}.html&limit=20&nested_limit=5"),
    }
    env = ours_env(f"sqlite:///{data.ours_db}", plan, work)
    instances.flush_redis(env["COMMENTS_REDIS_URL"])
    servers = [ours_server(f"ours-{label}", env, work), ceiling_server(work)]
    ready = ["/healthz", "/"]
    if isso_bin:
        servers.append(isso_server(isso_bin, data, work))
        ready.append("/info")
    out: dict[str, Any] = {}
    with running(*servers, ready=ready):
        ours, ceiling = servers[0], servers[1]
        isso = servers[2] if isso_bin else None
        ceilings: list[Load] = []

        def pair(pool: Path, headers: dict[str, str] | None = None) -> tuple[Load, Load]:
            mine, theirs = paired(ours, pool, ceiling, pools["ceiling"], plan, headers)
            ceilings.append(theirs)
            return mine, theirs

        k, kc = pair(counts_ours)
        out["counts"] = k
        ik = measure(isso.url, counts_isso, plan, isso) if isso else None
        results.add(
            f"[{label}] counts, 20 random keys (pool of 1,000 pages), warm",
            fmt(k),
            fmt(ik) if ik else "",
            f"{k.rps / kc.rps:.2f}x ceiling ({fmt(kc)}); CPU {k.cpu_ms / kc.cpu_ms:.2f}x",
            f">=0.8x, p99<20 ms: {verdict(k.rps >= 0.8 * kc.rps and k.p99_ms < 20)}",
        )
        for kind, path_med, path_hot, isso_med, isso_hot, headers in (
            ("widget page", pools["w_med"], pools["w_hot"], None, None, ACCEPT),
            (
                "comments JSON",
                pools["j_med"],
                pools["j_hot"],
                pools["i_med"],
                pools["i_hot"],
                ACCEPT,
            ),
        ):
            med, medc = pair(path_med, headers)
            hot, hotc = pair(path_hot, headers)
            imed = measure(isso.url, isso_med, plan, isso) if isso and isso_med else None
            ihot = measure(isso.url, isso_hot, plan, isso) if isso and isso_hot else None
            out[f"{kind}-median"], out[f"{kind}-hot"] = med, hot
            med_ratio, hot_ratio = med.rps / medc.rps, hot.rps / hotc.rps
            results.add(
                f"[{label}] {kind}, median article ({data.info['median_size']:.0f} comments)",
                fmt(med),
                fmt(imed) if imed else "(no server-side page)" if isso else "",
                f"{med_ratio:.2f}x ceiling; CPU {med.cpu_ms / medc.cpu_ms:.2f}x",
                f">=0.3x: {verdict(med_ratio >= 0.3)}",
            )
            results.add(
                f"[{label}] {kind}, hottest article ({data.info['hottest_size']:,} comments)",
                fmt(hot),
                fmt(ihot) if ihot else "",
                f"{hot_ratio:.2f}x ceiling; median/hottest {med_ratio / hot_ratio:.2f} "
                f"(CPU {hot.cpu_ms / med.cpu_ms:.2f})",
                f">=0.3x and <=1.5: {verdict(hot_ratio >= 0.3 and med_ratio <= 1.5 * hot_ratio)}",
            )
        out["ceiling"] = c = combine(ceilings)
        results.add(f"[{label}] ceiling: Flask hello world, all its slices", fmt(c))
        rss = ours.rss_mib()
        out["rss"] = rss
        results.add(
            f"[{label}] resident memory per worker after the run",
            " / ".join(f"{r:.0f} MiB" for r in rss),
            " / ".join(f"{r:.0f} MiB" for r in isso.rss_mib()) if isso else "",
            "ceiling " + " / ".join(f"{r:.0f} MiB" for r in ceiling.rss_mib()),
        )
    return out


def growth(results: Results, small: dict[str, Any], big: dict[str, Any], factor: int) -> None:
    """Cost at 10x the data: CPU per request (the rate, ceiling-normalised, beside it)."""
    for name in ("counts", "widget page-median", "widget page-hot", "comments JSON-hot"):
        cpu = big[name].cpu_ms / small[name].cpu_ms
        rate = (small[name].rps / small["ceiling"].rps) / (big[name].rps / big["ceiling"].rps)
        target = f"<=1.2: {verdict(cpu <= 1.2)}" if name == "counts" else ""
        results.add(
            f"growth {factor}x data: {name}, cost per request",
            f"CPU/req {cpu:.2f}x (rate, ceiling-normalised: {rate:.2f}x)",
            "",
            "",
            target,
        )


# --- posting -----------------------------------------------------------------------------


def post_comments(
    url: str, seconds: float, clients: int, articles: list[str], run: str
) -> dict[str, Any]:
    """``clients`` threads, each: GET /captcha, GET its image, POST a unique comment."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    accepted: dict[int, str] = {}
    duplicates: list[int] = []
    failures: list[str] = []
    image_bytes: list[int] = []

    def client(number: int) -> None:
        rng = random.Random(number)
        sequence = 0
        with instances.Client(timeout=30) as http:
            while time.monotonic() < deadline:
                sequence += 1
                body = f"基准测试评论 {run}-{number}-{sequence}：" + "支持" * rng.randrange(5, 60)
                try:
                    challenge = http.request(url, "GET", "/captcha")
                    if challenge.status != 200:
                        raise RuntimeError(f"captcha {challenge.status}")
                    token = challenge.json()["token"]
                    image = http.request(url, "GET", challenge.json()["image"])
                    if image.status != 200 or not image.body.startswith(b"\x89PNG"):
                        raise RuntimeError(f"image {image.status}")
                    answer = http.request(
                        url,
                        "POST",
                        f"/api/v1/articles/{rng.choice(articles)}/comments",
                        {
                            "author": f"测试{number}",
                            "body": body,
                            "captcha_token": token,
                            "captcha_answer": "PASSED",
                        },
                    )
                    if answer.status != 202:
                        raise RuntimeError(f"post {answer.status} {answer.body[:200]!r}")
                    comment_id = answer.json()["id"]
                except (OSError, RuntimeError, ValueError, KeyError) as error:
                    with lock:
                        failures.append(str(error))
                    continue
                with lock:
                    image_bytes.append(len(image.body))
                    if comment_id in accepted:
                        duplicates.append(comment_id)
                    accepted[comment_id] = body

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "accepted": accepted,
        "duplicates": duplicates,
        "failures": failures,
        "seconds": elapsed,
        "image_bytes": image_bytes,
    }


def stored_bodies(database_url: str, run: str) -> dict[int, list[str]]:
    """What the database holds of this run's comments: id -> bodies."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, body FROM comment WHERE body LIKE :pattern"),
                {"pattern": f"基准测试评论 {run}-%"},
            ).all()
    finally:
        engine.dispose()
    found: dict[int, list[str]] = {}
    for comment_id, body in rows:
        found.setdefault(comment_id, []).append(body)
    return found


def posting_phase(work: Path, plan: Plan, data: Dataset, results: Results) -> None:
    """Accepted comments/s with 4 clients, a real captcha round trip each, SQLite and PostgreSQL."""
    articles = [data.median, data.hot, *[str(URI_BASE + n) for n in range(0, plan.articles, 97)]]
    sqlite_copy = scratch_copy(data.ours_db, work, "ours-posting.db")
    backends = [("SQLite", f"sqlite:///{sqlite_copy}")]
    problem = instances.postgres_problem()
    if problem:
        results.notes.append(f"PostgreSQL posting skipped: {problem}")
    else:
        url = instances.recreate_postgres_database(PG_DATABASE)
        instances.migrate(instances.service_env(DATABASE_URL=url, SECRET_KEY=SECRET))
        backends.append(("PostgreSQL", url))
    for name, database_url in backends:
        env = ours_env(database_url, plan, work, RATELIMIT_ENABLED=False, CAPTCHA_TEST_MODE=True)
        server = ours_server(f"ours-posting-{name.lower()}", env, work)
        run = f"{name}-{int(time.time())}"
        with running(server, ready="/healthz"):
            before = server.cpu_seconds()
            outcome = post_comments(server.url, plan.posting_seconds, 4, articles, run)
            cpu = server.cpu_seconds() - before
        stored = stored_bodies(database_url, run)
        accepted = outcome["accepted"]
        lost = [i for i in accepted if i not in stored]
        wrong = [i for i in accepted if i in stored and stored[i] != [accepted[i]]]
        extra = [i for i in stored if i not in accepted]
        duplicated = len(outcome["duplicates"]) + sum(len(b) - 1 for b in stored.values())
        rate = len(accepted) / outcome["seconds"]
        images = outcome["image_bytes"]
        results.add(
            f"posting, 4 clients, captcha JSON + image + submit, {name}",
            f"{rate:.1f} accepted/s ({len(accepted):,} in {outcome['seconds']:.0f} s, "
            f"{cpu * 1000 / max(1, len(accepted)):.1f} ms CPU per comment)",
            "",
            "",
            f"lost {len(lost) + len(wrong)}, duplicated {duplicated}, unanswered-but-stored "
            f"{len(extra)}, errors {len(outcome['failures'])}",
        )
        if outcome["failures"]:
            results.notes.append(f"posting {name} errors, first: {outcome['failures'][:3]}")
        if images:
            results.figures["image_bytes_http"] = statistics.mean(images)


def captcha_phase(work: Path, plan: Plan, results: Results) -> None:
    """Images per CPU-second in one process, their size, and how cheaply a flood is refused."""
    code = (
        "import time, statistics\n"
        "from service import create_app, captcha\n"
        "app = create_app({'SECRET_KEY': 'x' * 64, 'DATABASE_URL': 'sqlite://'})\n"
        "sizes = []\n"
        "with app.test_request_context():\n"
        "    for _ in range(20): captcha.render_png(captcha.new_challenge().token)\n"
        "    start = time.process_time(); wall = time.monotonic()\n"
        f"    while time.monotonic() - wall < {plan.duration / 2}:\n"
        "        sizes.append(len(captcha.render_png(captcha.new_challenge().token)))\n"
        "    cpu = time.process_time() - start\n"
        "print(len(sizes) / cpu, statistics.mean(sizes), len(sizes))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=instances.service_env(),
    ).stdout.split()
    per_core, size, count = float(out[0]), float(out[1]), int(out[2])
    results.add(
        "captcha images per CPU-second (one core), and bytes per image",
        f"{per_core:.0f} images/s per core, {size:,.0f} bytes ({count} images)",
    )
    # A flood from one address: the limit answers 429 without rendering.
    env = ours_env(f"sqlite:///{work / 'captcha.db'}", plan, work)
    instances.flush_redis(env["COMMENTS_REDIS_URL"])
    instances.migrate(env)
    server = ours_server("ours-captcha", env, work)
    with running(server, ready="/healthz"):
        token = instances.request(server.url, "GET", "/captcha").json()["token"]
        pool = one(work, "captcha-image", f"/captcha/{token}.png")
        flood = drive(server.url, pool, plan.duration / 2, server)
        forged = one(work, "captcha-forged", "/captcha/forged-token-" + "x" * 40 + ".png")
        refused = drive(server.url, forged, plan.duration / 2, server)
    results.add(
        "captcha image flood from one address (limit 60/minute)",
        f"{flood.rps:,.0f} answers/s, {flood.errors:,} of {flood.requests:,} refused (429), "
        f"{flood.cpu_ms or 0:.2f} ms CPU each; forged tokens {refused.rps:,.0f}/s, "
        f"{refused.errors:,} of {refused.requests:,} refused (404/429), "
        f"{refused.cpu_ms or 0:.2f} ms CPU each",
        "",
        "",
        "refused before rendering",
    )


# --- nginx -------------------------------------------------------------------------------


def nginx_config(work: Path, upstreams: list[int], port: int) -> Path:
    """deploy/nginx.conf as shipped, with only the addresses, TLS and paths of this machine."""
    shipped = (ROOT / "deploy" / "nginx.conf").read_text()
    cache = work / "nginx" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    servers = "".join(f"    server {HOST}:{p};\n" for p in upstreams)
    changed = re.sub(r"(upstream comments \{\n)(?:    server [^\n]+\n)+", r"\1" + servers, shipped)
    changed = changed.replace("/var/cache/nginx/comments", str(cache))
    changed = re.sub(r"listen 443 ssl[^;]*;", f"listen {HOST}:{port};", changed)
    changed = "\n".join(line for line in changed.splitlines() if "ssl_certificate" not in line)
    changed = re.sub(r"allow 10\.0\.0\.0/8;", f"allow {HOST};", changed)
    main = work / "nginx" / "nginx.conf"
    main.write_text(
        "worker_processes 1;\n"
        f"pid {work / 'nginx' / 'nginx.pid'};\n"
        f"error_log {work / 'logs' / 'nginx.error.log'};\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  access_log {work / 'logs' / 'nginx.access.log'};\n"
        f"  client_body_temp_path {work / 'nginx'}/body;\n"
        f"  proxy_temp_path {work / 'nginx'}/proxy;\n"
        f"  fastcgi_temp_path {work / 'nginx'}/fastcgi;\n"
        f"  uwsgi_temp_path {work / 'nginx'}/uwsgi;\n"
        f"  scgi_temp_path {work / 'nginx'}/scgi;\n" + changed + "\n}\n"
    )
    return main


def proxy_phase(
    work: Path, plan: Plan, data: Dataset, results: Results, ceiling_rps: float
) -> None:
    """Two instances behind nginx with its cache on; a moderation action shows within max-age."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        results.notes.append("nginx is not installed (apt-get install nginx-light): proxy skipped")
        return
    database = scratch_copy(data.ours_db, work, "ours-proxy.db")
    env = ours_env(f"sqlite:///{database}", plan, work, TRUSTED_PROXIES=1)
    instances.flush_redis(env["COMMENTS_REDIS_URL"])
    token = instances.add_moderator_token(env, MODERATOR, PASSWORD)
    a, b = ours_server("ours-proxy-a", env, work), ours_server("ours-proxy-b", env, work)
    port = free_port()
    config = nginx_config(work, [a.port, b.port], port)
    proxy = Server(
        "nginx",
        [nginx, "-c", str(config), "-g", "daemon off;"],
        work,
        dict(os.environ),
        work / "logs" / "nginx.log",
        port,
    )
    counts_ours, _ = counts_pools(work, plan)
    with running(a, b, proxy, ready=["/healthz", "/healthz", "/healthz"]):
        k = measure(proxy.url, counts_ours, plan)
        w = measure(
            proxy.url, one(work, "proxy-widget", f"/embed/{data.median}"), plan, headers=ACCEPT
        )
        results.add(
            "behind nginx (cache on), 2 instances: counts, 20 random keys",
            fmt(k),
            "",
            f"{k.rps / ceiling_rps:.2f}x ceiling (direct)",
        )
        results.add(
            "behind nginx (cache on), 2 instances: widget page, median article",
            fmt(w),
            "",
            f"{w.rps / ceiling_rps:.2f}x ceiling (direct)",
        )
        results.add(
            "moderation through nginx's cache",
            moderation_visibility(proxy, a, b, database, token, plan),
            "",
            "",
            f"within max-age {plan.max_age} s",
        )


def moderation_visibility(
    proxy: Server, a: Server, b: Server, database: Path, token: str, plan: Plan
) -> str:
    """Approve a pending comment on instance A; poll counts and the widget through nginx."""
    con = sqlite3.connect(database)
    # A pending thread starter of an article with few comments: once approved it is
    # on the widget's first page, whatever its date.
    row = con.execute(
        "SELECT c.id, a.key FROM comment c JOIN article a ON a.id = c.article_id "
        "WHERE c.status = 'pending' AND c.deleted_at IS NULL AND c.parent_id IS NULL "
        "AND a.approved_count < 10 ORDER BY c.id LIMIT 1"
    ).fetchone()
    con.close()
    if row is None:
        return "no pending comment in the data"
    comment_id, key = row
    counts_path = f"/api/v1/counts?article={key}"
    widget_path = f"/embed/{key}"
    primed = time.monotonic()  # these two requests put the article in nginx's cache
    before = instances.request(proxy.url, "GET", counts_path).json()["counts"][key]
    instances.request(proxy.url, "GET", widget_path, headers=ACCEPT)
    answer = instances.request(
        a.url,
        "POST",
        f"/api/v1/mod/comments/{comment_id}/approve",
        {},
        headers={"Authorization": f"Bearer {token}"},
    )
    approved_at = time.monotonic()
    if answer.status != 200:
        return f"approval failed: {answer.status} {answer.body[:200]!r}"
    direct = instances.request(b.url, "GET", counts_path).json()["counts"][key]
    seen_counts = seen_widget = None
    limit = plan.max_age + 5
    while time.monotonic() - approved_at < limit and (seen_counts is None or seen_widget is None):
        elapsed = time.monotonic() - approved_at
        if seen_counts is None:
            now = instances.request(proxy.url, "GET", counts_path).json()["counts"][key]
            if now == before + 1:
                seen_counts = elapsed
        if seen_widget is None:
            page = instances.request(proxy.url, "GET", widget_path, headers=ACCEPT)
            if f'id="comment-{comment_id}"'.encode() in decoded(page):
                seen_widget = elapsed
        time.sleep(0.05)

    cached_before = approved_at - primed

    def shown(value: float | None) -> str:
        if value is None:
            return f"not within {limit} s"
        return f"{value:.1f} s (the copy was {value + cached_before:.1f} s old)"

    return (
        f"instance B direct: {'exact at once' if direct == before + 1 else 'STALE'}; "
        f"through nginx: counts after {shown(seen_counts)}, widget after {shown(seen_widget)}"
    )


def decoded(answer: instances.Response) -> bytes:
    """The body of an answer, uncompressed."""
    encoding = answer.headers.get("content-encoding")
    if encoding == "br":
        import brotli

        return brotli.decompress(answer.body)
    if encoding == "gzip":
        import gzip

        return gzip.decompress(answer.body)
    return answer.body


# --- the table -----------------------------------------------------------------------------


def table(results: Results, plan: Plan, started: float) -> str:
    head = (
        "| measurement | ours | Isso 0.14.0 | ratio | target |\n| --- | --- | --- | --- | --- |\n"
    )
    body = "".join("| " + " | ".join(cell or "" for cell in row) + " |\n" for row in results.rows)
    notes = "".join(f"\n- {note}" for note in results.notes)
    return (
        f"\n{head}{body}"
        f"\n{plan.articles:,} articles, {plan.comments:,} and {plan.scale_comments:,} comments; "
        f"wrk -t2 -c8, {plan.duration:.0f} s per measurement after {plan.warmup:.0f} s of warm-up; "
        f"gunicorn {' '.join(GUNICORN_ARGS)}; {time.monotonic() - started:.0f} s in all; "
        f"load average before: {os.getloadavg()[0]:.1f}.{notes}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, short runs")
    parser.add_argument("--duration", type=float, help="seconds per measurement")
    parser.add_argument("--work", type=Path, default=BENCH / ".work", help="data and logs")
    parser.add_argument("--fresh", action="store_true", help="regenerate and re-import the data")
    parser.add_argument("--no-isso", action="store_true", help="skip the peer")
    parser.add_argument("--no-scale", action="store_true", help="skip the 10x data run")
    parser.add_argument("--no-proxy", action="store_true", help="skip nginx")
    parser.add_argument("--no-posting", action="store_true", help="skip posting and captcha")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record a py-spy flame graph of one worker per measurement (in WORK/profiles)",
    )
    args = parser.parse_args(argv)
    plan = Plan.of(args)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = work / "profiles"
    started = time.monotonic()
    results = Results()
    if not shutil.which("wrk"):
        results.notes.append(
            "wrk not found (apt-get install wrk): the Python client drove the load"
        )
    for problem in (instances.redis_problem(f"redis://{HOST}:6379/{REDIS_DB}"),):
        if problem:
            print(problem, file=sys.stderr)
            return 2

    isso_bin = None if args.no_isso else setup_isso(work)
    generator_bin = isso_bin or setup_isso(work)
    small = make_dataset(work, generator_bin, plan, plan.comments, args.fresh)
    print(f"· data: {small.info}")
    first = read_phase(work, plan, small, isso_bin, results, f"{plan.comments:,}")
    if not args.no_scale:
        big = make_dataset(work, generator_bin, plan, plan.scale_comments, args.fresh)
        print(f"· data: {big.info}")
        second = read_phase(work, plan, big, None, results, f"{plan.scale_comments:,}")
        growth(results, first, second, plan.scale_comments // plan.comments)
    if not args.no_posting:
        posting_phase(work, plan, small, results)
        captcha_phase(work, plan, results)
    if not args.no_proxy:
        proxy_phase(work, plan, small, results, first["ceiling"].rps)
    text = table(results, plan, started)
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
