"""Moderators' word lists: find "banned" and "suspect" words in comment text.

Words and text are folded the same way before matching, so that the usual
disguises do not hide a word:

* Unicode NFKC: full-width ``ＶＰＮ１２３`` and full-width punctuation become
  half-width, circled ``①`` becomes ``1``, and so on;
* case folding: ``VpN`` matches ``vpn``;
* traditional to simplified Chinese (OpenCC ``t2s``): ``發票`` matches
  ``发票`` and a word typed as ``臺灣`` matches ``台湾``;
* every whitespace, punctuation, symbol, separator, control, format and
  unassigned character (Unicode categories ``Z*``, ``P*``, ``S*``, ``C*``,
  which includes emoji) and every invisible filler (zero-width space and
  joiners, word joiner, BOM, variation selectors, Hangul fillers, ...) is
  dropped: ``法 轮``, ``法.轮``, ``法＊轮``, ``法🙂轮`` and ``法\\u200b轮`` all
  contain ``法轮``.

Folding is done one original character at a time, so folding a string is the
same as folding each of its characters and joining the results. That keeps the
map from folded to original positions exact, and guarantees that text which
contains a listed word (as typed, or disguised as above) always matches it.
OpenCC is therefore used per character, not with its phrase tables: the
mapping is the same wherever a character appears, for words and text alike.

All words go into one Aho-Corasick automaton (``pyahocorasick``), so a text is
searched in a single pass however long the lists are. A ``WordMatcher`` is
never modified after it is built, so one instance can serve any number of
threads; build a new one when the lists change.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick
import opencc
from markupsafe import Markup, escape

__all__ = ["KINDS", "WordMatch", "WordMatcher", "highlight", "normalise"]

BANNED = "banned"
SUSPECT = "suspect"
KINDS: frozenset[str] = frozenset({BANNED, SUSPECT})

# When highlighted spans of different kinds overlap, the merged span takes the
# most severe kind.
_SEVERITY = {SUSPECT: 1, BANNED: 2}

# Unicode categories whose characters are dropped: separators (Z*),
# punctuation (P*), symbols (S*), and other (C*: controls, format characters
# such as the zero-width ones, surrogates, private use, unassigned).
_DROPPED_CATEGORIES = frozenset("ZPSC")

# Invisible characters dropped whatever their category. The zero-width ones are
# format characters (Cf) and would go anyway; the others are default-ignorable
# marks and letters that render as nothing and could be slipped between two
# characters of a word.
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width space / non-joiner / joiner, word joiner, BOM
    "\u00ad\u034f"  # soft hyphen, combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180b\u180c\u180d\u180e\u180f"  # Mongolian variation selectors, vowel separator
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))  # variation selectors 1-16
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))  # variation selectors 17-256
)

# Created once: loading the dictionaries is the expensive part.
_T2S = opencc.OpenCC("t2s")
# Conversions are cached (see ``_fold_char``), so serialising the few calls
# that reach the C++ converter costs nothing and avoids relying on its
# thread-safety.
_T2S_LOCK = threading.Lock()


def _kept(char: str) -> bool:
    """Whether a folded character takes part in matching."""
    return unicodedata.category(char)[0] not in _DROPPED_CATEGORIES and char not in _INVISIBLE


def _to_simplified(char: str) -> str:
    """One character converted from traditional to simplified Chinese."""
    with _T2S_LOCK:
        converted = _T2S.convert(char)
    return converted if isinstance(converted, str) and converted else char


def _fold_once(char: str) -> str:
    """One round of folding of one character (see ``_fold_char``)."""
    if char in _INVISIBLE:
        return ""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold())
    simplified = "".join(_to_simplified(c) for c in folded if _kept(c))
    return "".join(c for c in simplified if _kept(c))


@functools.lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    """The folded form of one original character: zero, one or more characters.

    NFKC, case folding, NFKC again (case folding can produce characters that
    NFKC would change), traditional to simplified, and dropping of separators,
    punctuation, symbols, other and invisible characters. Repeated until
    nothing changes, because a few t2s conversions lead to a character that
    converts again (``薴`` to ``苧`` to ``苎``): folding an already folded text
    must change nothing, or a word typed in one form would miss the other.
    """
    folded = _fold_once(char)
    for _ in range(4):
        again = "".join(_fold_once(c) for c in folded)
        if again == folded:
            break
        folded = again
    return folded


def normalise(text: str) -> tuple[str, list[int]]:
    """Folded text for matching, and the original index of each folded character.

    Returns the folded text, and for each folded char the index of the
    original char it came from. The same folding applies to list words and to
    comment text (see the module docstring). Each original character is folded
    on its own, so one original character may give several folded characters
    (``ß`` gives ``ss``, ``㍿`` gives ``株式会社``), all mapped to its index,
    or none at all (``＊``, spaces, emoji).

    >>> normalise("Ａ 發")
    ('a发', [0, 2])
    """
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        piece = _fold_char(char)
        if piece:
            folded.append(piece)
            origin.extend([index] * len(piece))
    return "".join(folded), origin


@dataclass(frozen=True)
class WordMatch:
    """One occurrence of a list word in a text."""

    word: str
    """The list entry as the admin typed it."""
    kind: str
    """``"banned"`` or ``"suspect"``."""
    start: int
    """Start of the span in the original text (Python ``str`` index)."""
    end: int
    """End of the span in the original text, exclusive.

    The span runs from the first to the last matched character, so it includes
    whatever separators were inserted between them.
    """


class WordMatcher:
    """All moderators' words in one automaton; finds them in a single pass over a text.

    Built once from ``(word, kind)`` pairs and never modified afterwards, so
    ``find`` and ``kinds`` may be called from many threads at once.
    """

    __slots__ = ("_automaton", "_count")

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        """Fold and index every entry.

        ``kind`` must be ``"banned"`` or ``"suspect"`` (``ValueError``
        otherwise). Words that fold to nothing (only spaces, punctuation,
        emoji, ...) are ignored, and so are repeated ``(word, kind)`` pairs.
        Different entries that fold alike (``發票`` and ``发票``, or one word in
        both lists) are all kept and all reported.
        """
        by_key: dict[str, list[tuple[str, str]]] = {}
        seen: set[tuple[str, str]] = set()
        for word, kind in entries:
            if not isinstance(word, str):
                raise TypeError(f"word must be a str, not {type(word).__name__}")
            if kind not in KINDS:
                raise ValueError(f"kind must be one of {sorted(KINDS)}, not {kind!r}")
            key = normalise(word)[0]
            if not key or (word, kind) in seen:
                continue
            seen.add((word, kind))
            by_key.setdefault(key, []).append((word, kind))

        self._count = len(seen)
        self._automaton: ahocorasick.Automaton | None = None
        if by_key:
            automaton = ahocorasick.Automaton()
            for key, payload in by_key.items():
                automaton.add_word(key, (len(key), tuple(payload)))
            automaton.make_automaton()
            self._automaton = automaton

    def find(self, text: str) -> list[WordMatch]:
        """Every occurrence of every word, sorted by start (then end, kind, word).

        Overlapping and nested occurrences are all reported. Spans refer to
        the original ``text``.
        """
        if self._automaton is None:
            return []
        folded, origin = normalise(text)
        if not folded:
            return []
        matches = [
            WordMatch(word, kind, origin[last - length + 1], origin[last] + 1)
            for last, (length, payload) in self._automaton.iter(folded)
            for word, kind in payload
        ]
        matches.sort(key=lambda m: (m.start, m.end, m.kind, m.word))
        return matches

    def kinds(self, text: str) -> set[str]:
        """The kinds of the words found in ``text``: a subset of ``{"banned", "suspect"}``."""
        return {match.kind for match in self.find(text)}

    def __len__(self) -> int:
        """The number of distinct ``(word, kind)`` entries kept (non-empty after folding)."""
        return self._count

    def __repr__(self) -> str:
        return f"<WordMatcher {self._count} words>"


def highlight(text: str, matches: Sequence[WordMatch]) -> Markup:
    """The text HTML-escaped, with each matched span wrapped in ``<mark class="word-KIND">``.

    Each matched span (merged when overlapping) is wrapped in
    ``<mark class="word-KIND">…</mark>``; everything else is escaped.
    Overlapping spans become one ``<mark>`` whose kind is the most severe of
    theirs (``banned`` over ``suspect``); spans that merely touch stay
    separate. Spans are clipped to the text and empty ones are skipped. An
    unknown kind raises ``ValueError``.
    """
    spans: list[tuple[int, int, str]] = []
    for match in matches:
        if match.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, not {match.kind!r}")
        start = min(max(match.start, 0), len(text))
        end = min(max(match.end, 0), len(text))
        if start < end:
            spans.append((start, end, match.kind))
    spans.sort(key=lambda span: (span[0], span[1]))

    merged: list[tuple[int, int, str]] = []
    for start, end, kind in spans:
        if merged and start < merged[-1][1]:
            last_start, last_end, last_kind = merged[-1]
            if _SEVERITY[kind] > _SEVERITY[last_kind]:
                last_kind = kind
            merged[-1] = (last_start, max(last_end, end), last_kind)
        else:
            merged.append((start, end, kind))

    parts: list[str] = []
    position = 0
    for start, end, kind in merged:
        parts.append(escape(text[position:start]))
        parts.append(Markup('<mark class="word-{}">{}</mark>').format(kind, text[start:end]))
        position = end
    parts.append(escape(text[position:]))
    return Markup("").join(parts)
