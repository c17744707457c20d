"""scripts/ensure-system.sh: the same answer on every run, and ``--check`` changes nothing.

The old checks piped ``fc-list`` into ``grep -q`` under ``set -o pipefail``: grep stops at
the first match, fc-list dies of SIGPIPE, and installed fonts read as missing in some runs.
A stub ``fc-list`` that prints thousands of lines with the Noto fonts near the top
reproduces that in (nearly) every run of the old script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "ensure-system.sh"
BASH = shutil.which("bash") or "/bin/bash"
RUNS = 20
FONT_PACKAGES = {"fonts-noto-cjk", "fonts-noto-color-emoji"}
NOTO_LINES = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc: Noto Sans CJK SC:style=Regular",
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf: Noto Color Emoji:style=Regular",
]
# Longer than a pipe's buffer (64 KiB), so a reader that quits early leaves fc-list writing.
FILLER_LINES = [
    f"/usr/share/fonts/truetype/filler/Filler{i:04d}-Regular.ttf: Filler Sans {i}:style=Regular"
    for i in range(5000)
]


def check(path: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``ensure-system.sh --check``, with ``path`` as PATH if given."""
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [BASH, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def stub_fc_list(directory: Path, lines: list[str]) -> str:
    """A PATH whose ``fc-list`` prints ``lines``, ahead of the real PATH."""
    directory.mkdir(exist_ok=True)
    listing = directory / "fonts.txt"
    listing.write_text("\n".join(lines) + "\n")
    stub = directory / "fc-list"
    stub.write_text(f"#!/bin/sh\nexec cat '{listing}'\n")
    stub.chmod(0o755)
    return f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"


def reported(path: str | None = None) -> list[str]:
    """The packages one ``--check`` run reports missing (it must succeed, silently)."""
    result = check(path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def test_check_prints_the_same_thing_on_every_run() -> None:
    outputs = {check().stdout for _ in range(RUNS)}

    assert len(outputs) == 1


def installed(package: str) -> bool:
    """What Debian's package database says, asked independently of the script."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and "install ok installed" in result.stdout


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system")
def test_check_reports_exactly_the_packages_debian_lacks() -> None:
    # On CI (after `make test` ran the script as root) that is none of them.
    packages = ["chromium", "fonts-noto-cjk", "fonts-noto-color-emoji", "openssl"]

    assert reported() == [p for p in packages if not installed(p)]


def test_check_finds_fonts_early_in_a_long_font_list_every_time(tmp_path: Path) -> None:
    path = stub_fc_list(tmp_path / "bin", NOTO_LINES + FILLER_LINES)

    runs = [reported(path) for _ in range(RUNS)]

    assert all(FONT_PACKAGES.isdisjoint(missing) for missing in runs), runs
    assert all(missing == runs[0] for missing in runs)


def test_check_reports_both_font_packages_when_the_list_lacks_them(tmp_path: Path) -> None:
    path = stub_fc_list(tmp_path / "bin", FILLER_LINES)

    runs = [reported(path) for _ in range(5)]

    assert all(FONT_PACKAGES <= set(missing) for missing in runs), runs


def test_check_matches_font_names_regardless_of_case(tmp_path: Path) -> None:
    path = stub_fc_list(tmp_path / "bin", [line.upper() for line in NOTO_LINES])

    assert FONT_PACKAGES.isdisjoint(reported(path))


def test_check_without_fc_list_reports_both_font_packages(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    assert FONT_PACKAGES <= set(reported(str(empty)))


def test_check_installs_and_starts_nothing(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    path = stub_fc_list(bin_dir, FILLER_LINES)
    calls = tmp_path / "calls.log"
    # Every command that installs or starts something, plus what the script would ask first.
    for name in ("apt-get", "id", "pg_isready", "pg_ctlcluster", "redis-cli", "redis-server"):
        stub = bin_dir / name
        stub.write_text(f"#!/bin/sh\necho {name} \"$@\" >> '{calls}'\nexit 1\n")
        stub.chmod(0o755)

    missing = reported(path)

    assert FONT_PACKAGES <= set(missing)
    assert not calls.exists(), calls.read_text()


@pytest.mark.parametrize("argument", ["--install", "check", "-c"])
def test_unknown_argument_is_refused_before_doing_anything(argument: str) -> None:
    result = subprocess.run(
        [BASH, str(SCRIPT), argument], capture_output=True, text=True, timeout=30, check=False
    )

    assert result.returncode == 2
    assert "usage" in result.stderr
    assert result.stdout == ""
