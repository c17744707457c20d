"""The per-application pieces of the detector: its window and its clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app

from .window import Window, make_window


@dataclass
class Runtime:
    """What one application keeps between requests (``app.extensions["antispam"]``).

    ``clock`` gives seconds since the epoch; tests replace it with one they
    advance, so that windows and cooldowns pass without sleeping.
    """

    window: Window = field(init=False)
    clock: Callable[[], float] = time.time

    def bind(self, redis_url: str | None) -> Runtime:
        self.window = make_window(redis_url, clock=lambda: self.clock())
        return self


def init_app(app: Flask) -> None:
    app.extensions["antispam"] = Runtime().bind(app.config.get("REDIS_URL"))


def runtime() -> Runtime:
    return current_app.extensions["antispam"]  # type: ignore[no-any-return]
