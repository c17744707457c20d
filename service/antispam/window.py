"""The sliding window of recent posts, shared by every instance.

Holds, for ``ANTISPAM_WINDOW`` seconds, what the detector needs of each
recent post that is long enough or names a contact (never its text): who sent
it, on which article, its MinHash signature, whether it names a contact, and
the wave it joined. Posts are found again through index keys (the MinHash
bands and the contacts), so a new post is compared with a few dozen similar
ones, not with the whole window. Besides, it keeps per-minute post counters
(site-wide and per article) and small shared states (the under-attack mode).

With ``COMMENTS_REDIS_URL`` it lives in Redis, so that every instance sees
every post. Without it, or while Redis does not answer, it lives in the
process's memory: detection goes on per instance (logged once, and once more
when Redis is back), and posting never fails because of it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import redis

log = logging.getLogger(__name__)

# Per index key, only the most recent posts are looked at: a wave's members
# share most keys, so this still sees the cluster while bounding the work.
PER_KEY = 48
MEMORY_MAX_POSTS = 50_000
REDIS_RETRY_SECONDS = 30.0


@dataclass
class Seen:
    """One recent post as the window keeps it."""

    post: int
    at: float
    sender: str
    article: str
    contact: bool
    signature: np.ndarray
    contacts: tuple[str, ...] = ()
    wave: int | None = None


class Window(Protocol):
    def candidates(self, keys: Iterable[str], since: float) -> list[Seen]: ...
    def add(self, seen: Seen, keys: Iterable[str], ttl: float) -> None: ...
    def set_wave(self, posts: Iterable[int], wave: int) -> None: ...
    def count(self, names: Iterable[str], now: float) -> list[float]: ...
    def note(
        self, names: Iterable[str], now: float, state: str
    ) -> tuple[list[float], dict[str, Any] | None]: ...
    def get_state(self, name: str) -> dict[str, Any] | None: ...
    def set_state(self, name: str, value: dict[str, Any], ttl: float) -> None: ...
    def add_state(self, name: str, value: dict[str, Any], ttl: float) -> bool: ...
    def take_state(self, name: str) -> dict[str, Any] | None: ...


def _sliding(current: int, previous: int, now: float) -> float:
    """Posts in the last minute, from this minute's and the last minute's counters."""
    return current + previous * (1.0 - (now % 60.0) / 60.0)


@dataclass
class MemoryWindow:
    """The window in this process's memory (one instance, or Redis unreachable)."""

    posts: OrderedDict[int, Seen] = field(default_factory=OrderedDict)
    index: dict[str, list[int]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    states: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def candidates(self, keys: Iterable[str], since: float) -> list[Seen]:
        with self.lock:
            found: dict[int, Seen] = {}
            for key in keys:
                ids = self.index.get(key, [])
                for post in reversed(ids[-PER_KEY:]):
                    seen = self.posts.get(post)
                    if seen is not None and seen.at >= since:
                        found[post] = seen
            return list(found.values())

    def add(self, seen: Seen, keys: Iterable[str], ttl: float) -> None:
        with self.lock:
            self.posts[seen.post] = seen
            for key in keys:
                ids = self.index.setdefault(key, [])
                ids.append(seen.post)
                if len(ids) > 4 * PER_KEY:
                    del ids[: len(ids) - PER_KEY]
            horizon = seen.at - ttl
            while self.posts and (
                len(self.posts) > MEMORY_MAX_POSTS or next(iter(self.posts.values())).at < horizon
            ):
                self.posts.popitem(last=False)
            if len(self.index) > 8 * MEMORY_MAX_POSTS:
                self.index = {k: v for k, v in self.index.items() if v[-1] in self.posts}

    def set_wave(self, posts: Iterable[int], wave: int) -> None:
        with self.lock:
            for post in posts:
                if post in self.posts:
                    self.posts[post].wave = wave

    def count(self, names: Iterable[str], now: float) -> list[float]:
        minute = int(now // 60)
        with self.lock:
            rates = []
            for name in names:
                key = f"{name}:{minute}"
                self.counters[key] = self.counters.get(key, 0) + 1
                rates.append(
                    _sliding(self.counters[key], self.counters.get(f"{name}:{minute - 1}", 0), now)
                )
            if len(self.counters) > 100_000:
                keep = (f":{minute}", f":{minute - 1}")
                self.counters = {k: v for k, v in self.counters.items() if k.endswith(keep)}
            return rates

    def note(
        self, names: Iterable[str], now: float, state: str
    ) -> tuple[list[float], dict[str, Any] | None]:
        """``count`` and ``get_state`` together (one round trip where that matters)."""
        return self.count(names, now), self.get_state(state)

    def get_state(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.states.get(name)
            if found is None or found[1] < self.clock():
                return None
            return dict(found[0])

    def set_state(self, name: str, value: dict[str, Any], ttl: float) -> None:
        with self.lock:
            self.states[name] = (dict(value), self.clock() + ttl)

    def add_state(self, name: str, value: dict[str, Any], ttl: float) -> bool:
        with self.lock:
            found = self.states.get(name)
            if found is not None and found[1] >= self.clock():
                return False
            self.states[name] = (dict(value), self.clock() + ttl)
            return True

    def take_state(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.states.pop(name, None)
            return dict(found[0]) if found is not None and found[1] >= self.clock() else None


# Each call is one round trip: the scripts run inside Redis (post keys are built from
# the prefix there, so this is for a single Redis, not a cluster).
_CANDIDATES = """
local seen, out = {}, {}
for _, key in ipairs(KEYS) do
  local ids = redis.call('ZREVRANGEBYSCORE', key, '+inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
  for _, id in ipairs(ids) do
    if not seen[id] then
      seen[id] = true
      local data = redis.call('HMGET', ARGV[3] .. id,
        'at', 'sender', 'article', 'contact', 'sig', 'contacts', 'wave')
      if data[1] then
        table.insert(out, id)
        table.insert(out, data)
      end
    end
  end
end
return out
"""
_ADD = """
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[4])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[3])
  redis.call('EXPIRE', KEYS[i], ARGV[4])
end
return 1
"""
# KEYS: (this minute's counter, last minute's counter) per name, then the state key.
_COUNT = """
local out = {}
for i = 1, #KEYS - 1, 2 do
  local now = redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], 180)
  table.insert(out, now)
  table.insert(out, tonumber(redis.call('GET', KEYS[i + 1]) or '0'))
end
table.insert(out, redis.call('GET', KEYS[#KEYS]) or '')
return out
"""


class RedisWindow:
    """The window in Redis, shared by every instance (keys under ``comments:antispam:``)."""

    PREFIX = "comments:antispam:"

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.clock = clock
        self._candidates = self.client.register_script(_CANDIDATES)
        self._add = self.client.register_script(_ADD)
        self._count = self.client.register_script(_COUNT)

    def _k(self, *parts: object) -> str:
        return self.PREFIX + ":".join(str(p) for p in parts)

    def candidates(self, keys: Iterable[str], since: float) -> list[Seen]:
        keys = [self._k("key", key) for key in keys]
        if not keys:
            return []
        flat = self._candidates(keys=keys, args=[repr(since), PER_KEY, self._k("post", "")])
        result = []
        for i in range(0, len(flat), 2):
            at, sender, article, contact, sig, contacts, wave = flat[i + 1]
            if float(at) < since:
                continue
            result.append(
                Seen(
                    post=int(flat[i]),
                    at=float(at),
                    sender=sender.decode(),
                    article=article.decode(),
                    contact=contact == b"1",
                    signature=np.frombuffer(sig, dtype=np.uint32),
                    contacts=tuple(c for c in (contacts or b"").decode().split(",") if c),
                    wave=int(wave) if wave else None,
                )
            )
        return result

    def add(self, seen: Seen, keys: Iterable[str], ttl: float) -> None:
        fields: list[Any] = [
            "at", repr(seen.at),
            "sender", seen.sender,
            "article", seen.article,
            "contact", "1" if seen.contact else "0",
            "sig", np.asarray(seen.signature, dtype=np.uint32).tobytes(),
            "contacts", ",".join(seen.contacts),
        ]  # fmt: skip
        if seen.wave is not None:
            fields += ["wave", str(seen.wave)]
        self._add(
            keys=[self._k("post", seen.post)] + [self._k("key", key) for key in keys],
            args=[seen.post, repr(seen.at), repr(seen.at - ttl), max(1, int(ttl) + 1), *fields],
        )

    def set_wave(self, posts: Iterable[int], wave: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        for post in posts:
            # Only posts still in the window (HSET would bring back an expired one).
            key = self._k("post", post)
            pipe.eval(
                "if redis.call('EXISTS', KEYS[1]) == 1 then "
                "return redis.call('HSET', KEYS[1], 'wave', ARGV[1]) end return 0",
                1,
                key,
                str(wave),
            )
        pipe.execute()

    def note(
        self, names: Iterable[str], now: float, state: str
    ) -> tuple[list[float], dict[str, Any] | None]:
        minute = int(now // 60)
        keys = []
        for name in names:
            keys += [self._k("rate", name, minute), self._k("rate", name, minute - 1)]
        replies = self._count(keys=[*keys, self._k("state", state)])
        rates = [
            _sliding(int(replies[i]), int(replies[i + 1]), now)
            for i in range(0, len(replies) - 1, 2)
        ]
        return rates, json.loads(replies[-1]) if replies[-1] else None

    def count(self, names: Iterable[str], now: float) -> list[float]:
        return self.note(names, now, "-")[0]

    def get_state(self, name: str) -> dict[str, Any] | None:
        raw = self.client.get(self._k("state", name))
        return json.loads(raw) if raw else None

    def set_state(self, name: str, value: dict[str, Any], ttl: float) -> None:
        self.client.set(self._k("state", name), json.dumps(value), px=max(1, int(ttl * 1000)))

    def add_state(self, name: str, value: dict[str, Any], ttl: float) -> bool:
        key = self._k("state", name)
        return bool(self.client.set(key, json.dumps(value), px=max(1, int(ttl * 1000)), nx=True))

    def take_state(self, name: str) -> dict[str, Any] | None:
        raw = self.client.getdel(self._k("state", name))
        return json.loads(raw) if raw else None


class FallbackWindow:
    """Redis while it answers, else process memory; the switch is logged once each way."""

    def __init__(self, primary: RedisWindow, fallback: MemoryWindow) -> None:
        self.primary = primary
        self.fallback = fallback
        self.down_since: float | None = None
        self.lock = threading.Lock()

    def _call(self, method: str, *args: Any) -> Any:
        now = time.monotonic()
        if self.down_since is None or now - self.down_since >= REDIS_RETRY_SECONDS:
            try:
                result = getattr(self.primary, method)(*args)
            except (redis.RedisError, OSError) as error:
                with self.lock:
                    if self.down_since is None:
                        log.warning(
                            "antispam window: Redis unavailable (%s); using process memory",
                            type(error).__name__,
                        )
                    self.down_since = now
            else:
                with self.lock:
                    if self.down_since is not None:
                        log.info("antispam window: Redis is back; shared window restored")
                    self.down_since = None
                return result
        return getattr(self.fallback, method)(*args)

    @property
    def shared(self) -> bool:
        """Whether the last call reached Redis."""
        return self.down_since is None

    def candidates(self, keys: Iterable[str], since: float) -> list[Seen]:
        return self._call("candidates", list(keys), since)  # type: ignore[no-any-return]

    def add(self, seen: Seen, keys: Iterable[str], ttl: float) -> None:
        self._call("add", seen, list(keys), ttl)

    def set_wave(self, posts: Iterable[int], wave: int) -> None:
        self._call("set_wave", list(posts), wave)

    def count(self, names: Iterable[str], now: float) -> list[float]:
        return self._call("count", list(names), now)  # type: ignore[no-any-return]

    def note(
        self, names: Iterable[str], now: float, state: str
    ) -> tuple[list[float], dict[str, Any] | None]:
        return self._call("note", list(names), now, state)  # type: ignore[no-any-return]

    def get_state(self, name: str) -> dict[str, Any] | None:
        return self._call("get_state", name)  # type: ignore[no-any-return]

    def set_state(self, name: str, value: dict[str, Any], ttl: float) -> None:
        self._call("set_state", name, value, ttl)

    def add_state(self, name: str, value: dict[str, Any], ttl: float) -> bool:
        return self._call("add_state", name, value, ttl)  # type: ignore[no-any-return]

    def take_state(self, name: str) -> dict[str, Any] | None:
        return self._call("take_state", name)  # type: ignore[no-any-return]


def make_window(redis_url: str | None, clock: Callable[[], float]) -> Window:
    """Redis (with the memory fallback) when configured, else memory alone."""
    memory = MemoryWindow(clock=clock)
    if redis_url:
        return FallbackWindow(RedisWindow(redis_url, clock), memory)
    return memory
