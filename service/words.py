"""Word lists (banned and suspect words) and the matcher built from them.

Each process keeps one compiled matcher and rebuilds it when the lists'
version number in the settings table changes, so every instance picks up an
admin's edit on its next comment without a restart.
"""

from __future__ import annotations

import re
import secrets
import threading

from flask_babel import lazy_gettext
from sqlalchemy import delete, select

from .audit_log import audit
from .errors import BadRequest
from .extensions import db
from .models import Moderator, Word, WordKind
from .settings import get_setting, put_setting
from .wordfilter import WordMatcher, normalise

WORD_MAX_LENGTH = 64
# Commas as typed on Chinese and Western keyboards, and the enumeration comma.
SEPARATORS = re.compile("[,，、;；]")
_lock = threading.Lock()
_cache: dict[str, object] = {"version": None, "matcher": WordMatcher([])}


def matcher() -> WordMatcher:
    """The matcher for the current word lists (rebuilt only when they changed)."""
    # Keyed by database too: tests (and tools) may use several in one process.
    version = (str(db.engine.url), get_setting("words_version"))
    if _cache["version"] != version:
        entries = [(w.word, str(w.kind)) for w in db.session.execute(select(Word)).scalars()]
        with _lock:
            _cache["matcher"] = WordMatcher(entries)
            _cache["version"] = version
    return _cache["matcher"]  # type: ignore[return-value]


def list_words(kind: WordKind) -> list[Word]:
    return list(
        db.session.execute(select(Word).where(Word.kind == kind).order_by(Word.word)).scalars()
    )


def _bump_version() -> None:
    # A random token, not a counter: a fresh database starting again at 1 must
    # never look like a list some process has already compiled.
    put_setting("words_version", secrets.token_hex(8))


def add_words(text: str, kind: WordKind, by: Moderator | None) -> list[str]:
    """Add one word per line (or comma-separated); returns the words that were new."""
    candidates = [w.strip() for line in text.splitlines() for w in SEPARATORS.split(line)]
    existing = {w.word for w in list_words(kind)}
    added: list[str] = []
    for word in candidates:
        if not word or word in existing or word in added:
            continue
        if len(word) > WORD_MAX_LENGTH or not normalise(word)[0]:
            raise BadRequest(
                lazy_gettext("“%(word)s” is not a usable word (1 to 64 characters).", word=word)
            )
        db.session.add(Word(word=word, kind=kind))
        added.append(word)
    if added:
        _bump_version()
        audit("words_add", by, detail={"kind": kind.value, "words": added})
        db.session.commit()
    return added


def remove_words(ids: list[int], by: Moderator | None) -> int:
    words = list(db.session.execute(select(Word).where(Word.id.in_(ids))).scalars())
    if not words:
        return 0
    db.session.execute(delete(Word).where(Word.id.in_([w.id for w in words])))
    _bump_version()
    audit("words_remove", by, detail={"words": [w.word for w in words]})
    db.session.commit()
    return len(words)
