"""gunicorn settings, read from the working directory by `gunicorn wsgi:app`.

A production start refuses to run with a missing, short or known-default
secret key (it signs captcha tokens and moderators' sessions). Logs are JSON
lines without client addresses; set PROMETHEUS_MULTIPROC_DIR for /metrics.
"""

import os
import sys

KNOWN_DEFAULT_KEYS = {
    "dev",
    "development",
    "secret",
    "secret-key",
    "secret_key",
    "changeme",
    "change-me",
    "replace-me",
    "your-secret-key",
    "test-secret-key-not-for-production",
}
MIN_KEY_LENGTH = 32

wsgi_app = "wsgi:app"
# Several instances on one machine would share (and remove) one default control
# socket; set GUNICORN_CONTROL_SOCKET to a per-instance path to enable it.
control_socket_disable = "GUNICORN_CONTROL_SOCKET" not in os.environ
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Access log without the client address (personal data stays out of logs).
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        },
    },
    # The app adds its own JSON handler (with request ids) to the root logger.
    "root": {"handlers": [], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
    },
}


def secret_key_problem(key: str | None) -> str | None:
    if not key:
        return "COMMENTS_SECRET_KEY is not set"
    if key.strip().lower() in KNOWN_DEFAULT_KEYS:
        return "COMMENTS_SECRET_KEY is a well-known default"
    if len(key) < MIN_KEY_LENGTH:
        return f"COMMENTS_SECRET_KEY is shorter than {MIN_KEY_LENGTH} characters"
    return None


def on_starting(server):  # noqa: ANN001 - gunicorn hook
    problem = secret_key_problem(os.environ.get("COMMENTS_SECRET_KEY"))
    if problem:
        sys.stderr.write(
            f"refusing to start: {problem}. Generate one with\n"
            "  python -c 'import secrets; print(secrets.token_hex(32))'\n"
        )
        sys.exit(1)
    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc:
        os.makedirs(multiproc, exist_ok=True)


def limits_problem(workers: int, env: dict[str, str]) -> str | None:
    """Why the configured rate limits would not hold for the whole service, if they would not.

    Without Redis every worker process counts in its own memory, so a limit of 60 a
    minute lets 60 through each of them; one worker with threads shares one count.
    """
    if env.get("COMMENTS_RATELIMIT_ENABLED", "").lower() == "false":
        return None
    if workers > 1 and not env.get("COMMENTS_REDIS_URL"):
        return (
            f"{workers} worker processes and no COMMENTS_REDIS_URL: every rate limit "
            f"(posting, captchas, sign-in lockout) is counted per process, so each lets "
            f"{workers} times as much through. Set COMMENTS_REDIS_URL, or run one worker "
            "with threads (--workers 1 --threads 8)."
        )
    return None


def when_ready(server):  # noqa: ANN001 - gunicorn hook
    if not os.environ.get("COMMENTS_PUBLIC_URL"):
        server.log.warning(
            "COMMENTS_PUBLIC_URL is not set: the service does not know its own address "
            "(its own pages are not an allowed origin; absolute URLs fall back to relative)"
        )
    problem = limits_problem(server.cfg.workers, dict(os.environ))
    if problem:
        banner = "!" * 78
        server.log.warning("%s\nWARNING: RATE LIMITS DO NOT HOLD: %s\n%s", banner, problem, banner)


def child_exit(server, worker):  # noqa: ANN001 - gunicorn hook
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics

        GunicornInternalPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)
