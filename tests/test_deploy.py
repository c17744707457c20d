"""The nginx configuration operators get: shipped in deploy/, shown in the docs, valid."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "nginx.conf"


def test_operations_doc_shows_the_shipped_nginx_config() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", doc, flags=re.S)

    assert blocks == [SHIPPED.read_text(encoding="utf-8")]


def test_public_answers_are_cached_and_the_rest_is_not() -> None:
    conf = SHIPPED.read_text(encoding="utf-8")
    cached = re.search(r"location ~ (\S+) \{", conf)
    assert cached is not None
    pattern = re.compile(cached.group(1))

    for path in [
        "/api/v1/counts",
        "/api/v1/counts.html",
        "/embed/67584",
        "/api/v1/articles/67584/comments",
        "/embed.js",
        "/count.js",
    ]:
        assert pattern.search(path), path
    for path in [
        "/captcha",
        "/captcha/abc.png",
        "/mod/queue",
        "/api/v1/mod/comments",
        "/api/v1/articles/67584/comments/own",
        "/embed/67584/report/1",
        "/embed/67584/like/1",
        "/healthz",
        "/metrics",
    ]:
        assert not pattern.search(path), path
    # Only as long as the service says: no directive that sets a time of its own.
    directives = [line.split("#")[0] for line in conf.splitlines()]
    assert not any("proxy_cache_valid" in line for line in directives)


@pytest.mark.skipif(
    not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists(),
    reason="nginx is not installed",
)
def test_nginx_accepts_the_shipped_config(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = SHIPPED.read_text(encoding="utf-8")
    # Only what a test machine lacks: a certificate, and the cache folder's place.
    conf = re.sub(r"listen 443 ssl[^;]*;", "listen 127.0.0.1:8443;", conf)
    conf = "\n".join(line for line in conf.splitlines() if "ssl_certificate" not in line)
    conf = conf.replace("/var/cache/nginx/comments", str(tmp_path / "cache"))
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {tmp_path}/body;\n"
        f"proxy_temp_path {tmp_path}/proxy;\n{conf}\n}}\n"
    )

    done = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 0, done.stderr
