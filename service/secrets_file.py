"""A secret key made once and kept in the instance folder, shared by all workers."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

FILENAME = "secret_key"


def load_or_create(instance: Path) -> str:
    """Read the instance's secret key, creating it atomically on first start."""
    path = instance / FILENAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another worker may be writing it right now; wait for the content.
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.1)
        raise RuntimeError(f"{path} is empty; delete it to make a new key") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
