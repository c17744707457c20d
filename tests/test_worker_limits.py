"""A configured limit holds for the whole service: on the embedded default that is one
worker with threads (as ``make run`` starts it); several workers without Redis say at
start that their limits do not hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from instances import Instance, migrate, request, running, service_env

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    env = service_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'comments.db'}",
        SECRET_KEY="k" * 64,
        RATELIMIT_ENABLED=True,
        RATELIMIT_CAPTCHA="20/minute",
    )
    migrate(env)
    return env


def test_one_worker_with_threads_holds_the_limit_exactly(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    instance = Instance("single", sqlite_env, tmp_path, workers=1)
    with running(instance):
        statuses = [request(instance.url, "GET", "/captcha").status for _ in range(30)]
        log = instance.log_text()

    assert statuses.count(200) == 20
    assert statuses[20:] == [429] * 10
    assert "RATE LIMITS DO NOT HOLD" not in log


def test_several_workers_without_redis_say_so_loudly_at_start(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    instance = Instance("pair", sqlite_env, tmp_path, workers=2)
    with running(instance):
        log = instance.log_text()

    assert "RATE LIMITS DO NOT HOLD" in log
    assert "COMMENTS_REDIS_URL" in log


def test_make_run_runs_one_worker_with_threads() -> None:
    root = Path(__file__).resolve().parent.parent
    makefile = (root / "Makefile").read_text()
    serve = (root / "scripts" / "serve.sh").read_text()  # what `make run` runs

    assert "bash scripts/serve.sh" in makefile
    assert "--workers 1 --threads 8" in serve
