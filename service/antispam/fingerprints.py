"""What a comment looks like to the wave detector: a skeleton, its contacts, a MinHash.

An advert in a wave is made unique in every post: separators or emoji between
characters, full-width digits, a friendly prefix, a different phone number or
WeChat id, the channel written out ("V信", "点com"). The skeleton undoes that:

1. the word filter's folding (``wordfilter.normalise``): full width to half
   width, case, 繁→简, every separator, punctuation, symbol and emoji dropped;
2. written-out channels to one spelling (``V信``/``薇信``/``vx`` → ``微信``,
   ``扣扣``/``企鹅`` → ``扣扣``, ``点com`` → ``com``) and Chinese numerals in
   runs of five or more to digits (``一三八…`` is a phone number);
3. every run of letters and digits that carries a number or an address becomes
   a placeholder: a phone-length number ``#``, any other number ``9``, an id
   (letters and digits) ``@``, a web address ``%``. What they were is kept
   apart as the post's *contacts* (``phone:138…``, ``id:abc123``, ``url:xx.com``)
   when a channel word, a phone length or a domain says they are one.

Two skeletons are compared by the Jaccard similarity of their character
3-grams, estimated with MinHash (``datasketch``): 64 permutations, split into
21 bands of 3 rows for the locality-sensitive index: two texts with 40%
similarity share a band with probability 0.75, with 50% 0.94, with 80% all but
certainly; with 20%, 0.16 (those are then told apart by the full signature).
Three rows rather than four: an advert padded with a different sentence in
each post is only 40-50% alike to its siblings, and must still be found.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from datasketch import MinHash

from ..wordfilter import normalise

NUM_PERM = 64
BANDS = 21
ROWS = 3
SEED = 20261202
SHINGLE = 3

_CHANNELS = [
    # WeChat: the many ways of writing it out.
    (re.compile(r"(?:[vw](?:x|信|芯|心)|薇信|威信|维信|徽信|微x|微心|卫信|weixin|wechat)"), "微信"),
    (re.compile(r"(?:qq|扣扣|企鹅|球球|抠抠|寇寇)"), "扣扣"),
    (re.compile(r"(?:手机号|电话号|手机|电话|热线|座机)"), "电话"),
    # "点com", "dot com": the dot is written out; folding already dropped a typed one.
    (
        re.compile(r"(?:点|dot)(?=(?:com|cn|net|org|top|vip|xyz|cc|info|site|shop|club)(?![a-z]))"),
        "",
    ),
]
_CHINESE_DIGITS = str.maketrans(
    "零〇一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两", "0012345678912345678912"
)
_CHINESE_NUMBER_RUN = re.compile(r"[零〇一二三四五六七八九壹贰叁肆伍陆柒捌玖幺两]{5,}")
_ALNUM_RUN = re.compile(r"[a-z0-9]+")
# Numbers in a sentence ("涨了100，2024年") stay apart; folding would join them into
# one phone-length run. "〡" (a Hangzhou numeral) survives folding and is no digit.
_LISTED_NUMBERS = re.compile(r"(?<=\d{3})\s*[，,。；;、]\s*(?=\d{3})")
# Ideographs that spammers slip between characters as separators (丶 looks like a dot);
# the word filter keeps them, being letters, but no sentence needs them to be read.
_FILLERS = str.maketrans("", "", "丶丿乀乁亅丨丷")
# A web address: "www..." or letters ending in a top-level domain, then digits or nothing.
_URL = re.compile(
    r"(?:www)?[a-z0-9]{2,}?(?:com|cn|net|org|top|vip|xyz|cc|info|site|shop|club)(?=[0-9]|$)"
)
_CHANNEL_WORDS = ("微信", "扣扣", "电话", "加", "联系", "私信", "找", "咨询")


@dataclass(frozen=True)
class Fingerprint:
    """The comparable form of one comment."""

    skeleton: str
    contacts: tuple[str, ...]
    signature: np.ndarray  # NUM_PERM uint32 values

    @property
    def text_length(self) -> int:
        """Characters of real text in the skeleton (placeholders not counted)."""
        return sum(1 for c in self.skeleton if c not in "#9@%")

    def band_keys(self) -> list[str]:
        """The locality-sensitive index keys: texts sharing one are compared."""
        values = self.signature
        return [
            f"b{band}:"
            + hashlib.blake2b(
                values[band * ROWS : (band + 1) * ROWS].tobytes(), digest_size=8
            ).hexdigest()
            for band in range(BANDS)
        ]

    def contact_keys(self) -> list[str]:
        """Index keys for the contacts: posts naming the same one are compared too."""
        return [
            "c:" + hashlib.blake2b(c.encode(), digest_size=8).hexdigest() for c in self.contacts
        ]


def _channel_before(folded: str, start: int) -> bool:
    return any(word in folded[max(0, start - 4) : start] for word in _CHANNEL_WORDS)


def _placeholders(run: str, channel: bool, parts: list[str], contacts: list[str]) -> None:
    """Append one run of letters and digits, or its placeholder, and note any contact."""
    url = _URL.match(run)
    if url and len(url.group()) >= 5:
        parts.append("%")
        contacts.append("url:" + url.group())
        rest = run[url.end() :]
        if rest:
            _placeholders(rest, True, parts, contacts)
    elif run.isdigit():
        if len(run) >= 7 or (channel and len(run) >= 5):
            parts.append("#")
            contacts.append("phone:" + run)
        else:
            parts.append("9")
    elif len(run) >= 5 and (channel or any(c.isdigit() for c in run)):
        parts.append("@")
        if channel:
            contacts.append("id:" + run)
    else:
        parts.append(run)


def skeleton_of(text: str) -> tuple[str, tuple[str, ...]]:
    """The folded text with numbers and addresses as placeholders, and the contacts found."""
    folded = normalise(_LISTED_NUMBERS.sub("〡", text))[0].translate(_FILLERS)
    for pattern, replacement in _CHANNELS:
        folded = pattern.sub(replacement, folded)
    folded = _CHINESE_NUMBER_RUN.sub(lambda m: m.group().translate(_CHINESE_DIGITS), folded)
    contacts: list[str] = []
    parts: list[str] = []
    position = 0
    for match in _ALNUM_RUN.finditer(folded):
        parts.append(folded[position : match.start()])
        position = match.end()
        _placeholders(match.group(), _channel_before(folded, match.start()), parts, contacts)
    parts.append(folded[position:])
    return "".join(parts), tuple(dict.fromkeys(contacts))


@lru_cache(maxsize=1)
def _permutations() -> tuple[object, str]:
    seed = MinHash(num_perm=NUM_PERM, seed=SEED)
    return seed.permutations, seed.scheme


def shingles(skeleton: str) -> set[bytes]:
    """Character 3-grams (the whole text when shorter)."""
    if len(skeleton) <= SHINGLE:
        return {skeleton.encode()} if skeleton else set()
    return {skeleton[i : i + SHINGLE].encode() for i in range(len(skeleton) - SHINGLE + 1)}


def signature_of(skeleton: str) -> np.ndarray:
    """The MinHash signature of a skeleton's 3-grams."""
    permutations, scheme = _permutations()
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=permutations, scheme=scheme)
    grams = shingles(skeleton)
    if grams:
        minhash.update_batch(list(grams))
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


def fingerprint(text: str) -> Fingerprint:
    """Skeleton, contacts and MinHash signature of a comment's text."""
    skeleton, contacts = skeleton_of(text)
    return Fingerprint(skeleton, contacts, signature_of(skeleton))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures (share of equal values)."""
    if a.shape != b.shape or not a.size:
        return 0.0
    return float(np.count_nonzero(a == b)) / a.size


def similarities(signatures: list[np.ndarray], b: np.ndarray) -> np.ndarray:
    """``similarity`` of each signature with ``b``, in one vectorised step."""
    if not signatures:
        return np.zeros(0)
    return (np.stack(signatures) == b).mean(axis=1)  # type: ignore[no-any-return]
