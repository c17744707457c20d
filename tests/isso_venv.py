"""Isso databases written by the real ``isso`` package, for the importer's tests.

Isso 0.14.0 is installed once into ``tests/.isso-venv`` (not in git; about 15 s
the first time), a virtual environment of its own because isso's dependencies
are not ours. ``write_isso_db`` then runs a short script with that Python which
uses isso's own database classes (``isso.db.SQLite3``, ``comments.add``,
``delete``, ``vote``) the way isso's server does.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ISSO_VERSION = "0.14.0"
VENV = Path(__file__).resolve().parent / ".isso-venv"

WRITER = """
import json, sys
from isso import config
from isso.db import SQLite3
from isso.utils import anonymize

spec = json.load(sys.stdin)
conf = config.new({"general": {"dbpath": spec["path"], "max-age": "1h"}})
db = SQLite3(spec["path"], conf)
for thread in spec["threads"]:
    db.threads.new(thread["uri"], thread["title"])
ids = {}
for c in spec["comments"]:
    row = db.comments.add(c["uri"], {
        "text": c["text"], "author": c.get("author"), "email": c.get("email"),
        "website": c.get("website"), "mode": c.get("mode", 1),
        "remote_addr": anonymize(c.get("ip", "127.0.0.1")), "created": c["created"],
        "parent": ids.get(c.get("parent")), "notification": 0,
    })
    ids[c["name"]] = row["id"]
for op, name, *rest in spec.get("ops", []):
    if op == "delete":
        db.comments.delete(ids[name])
    elif op == "vote":
        db.comments.vote(True, ids[name], anonymize(rest[0]))
json.dump(ids, sys.stdout)
"""


def isso_python() -> Path:
    """The Python of a virtual environment with isso installed (made once, under a lock)."""
    python = VENV / "bin" / "python"
    marker = VENV / f".installed-isso-{ISSO_VERSION}"
    VENV.parent.mkdir(exist_ok=True)
    with open(VENV.parent / ".isso-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", f"isso=={ISSO_VERSION}"],
                check=True,
                timeout=600,
            )
            marker.touch()
    return python


def write_isso_db(path: Path, spec: dict[str, Any]) -> dict[str, int]:
    """Write an Isso database with isso's own code; returns each comment's isso id by name.

    ``spec``: ``threads`` [{uri, title}], ``comments`` [{name, uri, text, author,
    mode, ip, created, parent (a name)}], ``ops`` [["delete", name], ["vote", name, ip]].
    """
    done = subprocess.run(
        [str(isso_python()), "-c", WRITER],
        input=json.dumps({**spec, "path": str(path)}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
