"""Word lists: folding, matching with exact original spans, and highlighting."""

from __future__ import annotations

import dataclasses
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from markupsafe import Markup

from service.wordfilter import KINDS, WordMatch, WordMatcher, highlight, normalise


def spans(matcher: WordMatcher, text: str) -> list[tuple[str, str, str]]:
    """(word, kind, matched original text) for every match, in order."""
    return [(m.word, m.kind, text[m.start : m.end]) for m in matcher.find(text)]


# --- normalise ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded", "origin"),
    [
        ("", "", []),
        ("abc", "abc", [0, 1, 2]),
        ("ＶＰＮ１２３", "vpn123", [0, 1, 2, 3, 4, 5]),
        ("VpN", "vpn", [0, 1, 2]),
        ("法 轮", "法轮", [0, 2]),
        ("法\u200b\u200c\u200d\u2060\ufeff轮", "法轮", [0, 6]),
        ("發票", "发票", [0, 1]),
        ("臺灣", "台湾", [0, 1]),
        ("🙂法🙂轮🙂", "法轮", [1, 3]),
        ("Straße", "strasse", [0, 1, 2, 3, 4, 4, 5]),
        ("㍿", "株式会社", [0, 0, 0, 0]),
        ("①Ⅻ", "1xii", [0, 1, 1, 1]),
        (" ，。！？、…“”《》【】\t\n\u3000", "", []),
    ],
)
def test_normalise_folds_and_maps_each_char_to_its_origin(
    text: str, folded: str, origin: list[int]
) -> None:
    assert normalise(text) == (folded, origin)


@pytest.mark.parametrize(
    "text",
    ["ＶＰＮ 翻牆", "薴麻", "Straße ㍿ ①", "法\u200b輪\u3000功", "ǅǆǄ ﬀ ẞ", "𠀀𡃁 😀👍🏽"],
)
def test_normalise_is_idempotent(text: str) -> None:
    folded = normalise(text)[0]
    assert normalise(folded) == (folded, list(range(len(folded))))


# --- matching ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "text", "matched"),
    [
        ("vpn", "用ＶＰＮ上网", "ＶＰＮ"),
        ("ＶＰＮ", "用vpn上网", "vpn"),
        ("vpn", "用VpN上网", "VpN"),
        ("VPN", "用vpn上网", "vpn"),
        ("ｖｐｎ１", "用VPN1上网", "VPN1"),
        ("ß", "SS", "SS"),
        ("株式会社", "某㍿公司", "㍿"),
    ],
)
def test_width_and_case_are_folded(word: str, text: str, matched: str) -> None:
    assert spans(WordMatcher([(word, "banned")]), text) == [(word, "banned", matched)]


@pytest.mark.parametrize(
    "separator",
    [
        " ",
        "\u3000",  # ideographic space
        "\t",
        "\n",
        ".",
        "．",  # full-width full stop
        "＊",  # full-width asterisk
        "*",
        "-",
        "_",
        "·",
        "、",
        "，",
        "。",
        "|",
        "$",
        "+",
        "🙂",
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # BOM / zero-width no-break space
        "\u00ad",  # soft hyphen
        "\ufe0f",  # variation selector 16
        ". * \u200b",
    ],
)
def test_separators_between_characters_are_ignored(separator: str) -> None:
    matcher = WordMatcher([("法轮", "banned")])
    text = f"他说法{separator}轮很好"
    assert spans(matcher, text) == [("法轮", "banned", f"法{separator}轮")]


@pytest.mark.parametrize(
    ("word", "text", "matched"),
    [
        ("发票", "代开發票", "發票"),
        ("發票", "代开发票", "发票"),
        ("臺灣", "台湾独立", "台湾"),
        ("台湾", "臺灣獨立", "臺灣"),
        ("台湾独立", "臺 灣 獨 立", "臺 灣 獨 立"),
        ("臺灣", "ＴＷ台灣", "台灣"),
    ],
)
def test_traditional_and_simplified_match_each_other(word: str, text: str, matched: str) -> None:
    assert spans(WordMatcher([(word, "suspect")]), text) == [(word, "suspect", matched)]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("🙂🙂法轮功👍", 2, 5),
        ("👍🏽法🔥轮🔥功👨‍👩‍👧", 2, 7),
        ("𠀀𡃁法轮功𠀀", 2, 5),  # astral CJK characters count as one index each
        ("<b>法轮功</b>", 3, 6),
    ],
)
def test_spans_are_exact_with_emoji_and_astral_characters(text: str, start: int, end: int) -> None:
    [match] = WordMatcher([("法轮功", "banned")]).find(text)
    assert (match.start, match.end) == (start, end)
    assert normalise(text[match.start : match.end])[0] == "法轮功"


def test_span_covers_inserted_separators_but_not_surrounding_ones() -> None:
    text = "  ..法 . 轮\u200b功!!  "
    [match] = WordMatcher([("法轮功", "banned")]).find(text)
    assert text[match.start : match.end] == "法 . 轮\u200b功"


def test_overlapping_and_nested_words_are_all_reported_in_order() -> None:
    matcher = WordMatcher(
        [("法轮", "banned"), ("轮功", "suspect"), ("法轮功", "banned"), ("功", "suspect")]
    )
    assert spans(matcher, "练法轮功") == [
        ("法轮", "banned", "法轮"),
        ("法轮功", "banned", "法轮功"),
        ("轮功", "suspect", "轮功"),
        ("功", "suspect", "功"),
    ]


def test_every_occurrence_is_reported() -> None:
    matches = WordMatcher([("vpn", "suspect")]).find("vpn, VPN and ＶＰＮ")
    assert [(m.start, m.end) for m in matches] == [(0, 3), (5, 8), (13, 16)]


def test_entries_that_fold_alike_are_each_reported_as_typed() -> None:
    matcher = WordMatcher([("發票", "banned"), ("发票", "suspect"), ("发票", "suspect")])
    assert len(matcher) == 2
    assert spans(matcher, "发 票") == [("發票", "banned", "发 票"), ("发票", "suspect", "发 票")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今天天气不错", set()),
        ("", set()),
        ("买ＶＰＮ", {"suspect"}),
        ("法.轮.功", {"banned"}),
        ("买vpn练法轮功", {"banned", "suspect"}),
    ],
)
def test_kinds(text: str, expected: set[str]) -> None:
    matcher = WordMatcher([("法轮功", "banned"), ("VPN", "suspect")])
    assert matcher.kinds(text) == expected


@pytest.mark.parametrize("text", ["", "法轮功", "anything at all"])
def test_empty_matcher_finds_nothing(text: str) -> None:
    matcher = WordMatcher([])
    assert len(matcher) == 0
    assert matcher.find(text) == []
    assert matcher.kinds(text) == set()


@pytest.mark.parametrize("word", ["", "   ", "***", "，。", "🙂", "\u200b"])
def test_words_that_fold_to_nothing_are_ignored(word: str) -> None:
    matcher = WordMatcher([(word, "banned"), ("vpn", "suspect")])
    assert len(matcher) == 1
    assert [m.word for m in matcher.find(f"a {word} vpn ***")] == ["vpn"]


@pytest.mark.parametrize("kind", ["", "Banned", "spam", None])
def test_unknown_kind_is_rejected(kind: object) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        WordMatcher([("vpn", kind)])  # type: ignore[list-item]


def test_entries_may_be_any_iterable() -> None:
    matcher = WordMatcher((word, "banned") for word in ["甲乙", "丙丁"])
    assert len(matcher) == 2
    assert matcher.kinds("甲乙") == {"banned"}
    assert KINDS == {"banned", "suspect"}


def test_word_match_is_frozen() -> None:
    match = WordMatch("vpn", "suspect", 0, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        match.start = 1  # type: ignore[misc]


def test_find_from_many_threads_at_once() -> None:
    matcher = WordMatcher([("法轮", "banned"), ("vpn", "suspect")])
    text = "法 轮 ＶＰＮ " * 50
    expected = matcher.find(text)
    assert len(expected) == 100
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(matcher.find, [text] * 64))
    assert all(result == expected for result in results)


def test_five_thousand_words_in_one_pass() -> None:
    rng = random.Random(20240601)
    pool = [chr(code) for code in range(0x4E00, 0x4E00 + 400)]
    words: set[str] = set()
    while len(words) < 5000:
        words.add("".join(rng.choices(pool, k=rng.choice([2, 3, 4]))))
    ordered = sorted(words)
    entries = [(word, "banned" if i % 3 else "suspect") for i, word in enumerate(ordered)]
    matcher = WordMatcher(entries)
    assert len(matcher) == 5000

    # Filler from a range no word uses; eight planted words, some disguised.
    filler = [chr(code) for code in range(0x6000, 0x6000 + 300)]
    planted = ordered[::625]
    pieces: list[str] = []
    for word in planted:
        pieces.append("".join(rng.choices(filler, k=110)))
        pieces.append(" ".join(word) if len(pieces) % 4 == 1 else word)
    text = "".join(pieces)
    text += "".join(rng.choices(filler, k=1000 - len(text)))
    assert len(text) == 1000

    # Oracle: every occurrence of every folded word in the folded text, by brute force.
    folded, origin = normalise(text)
    kind_of = dict(entries)
    expected = []
    for word in ordered:
        key = normalise(word)[0]
        at = folded.find(key)
        while at != -1:
            expected.append(
                WordMatch(word, kind_of[word], origin[at], origin[at + len(key) - 1] + 1)
            )
            at = folded.find(key, at + 1)
    expected.sort(key=lambda m: (m.start, m.end, m.kind, m.word))

    found = matcher.find(text)
    assert found == expected
    assert len(found) >= len(planted)
    found_words = {m.word for m in found}
    assert set(planted) <= found_words
    for match in found:
        if match.word in planted:
            assert text[match.start : match.end].replace(" ", "") == match.word


# --- highlight ---------------------------------------------------------------------------------


def test_highlight_escapes_html_and_marks_the_match() -> None:
    text = '<script>alert("法 轮")</script> & more'
    result = highlight(text, WordMatcher([("法轮", "banned")]).find(text))
    assert isinstance(result, Markup)
    assert result == (
        "&lt;script&gt;alert(&#34;"
        '<mark class="word-banned">法 轮</mark>'
        "&#34;)&lt;/script&gt; &amp; more"
    )


def test_highlight_escapes_html_inside_the_matched_span() -> None:
    text = "法<&>轮"
    result = highlight(text, WordMatcher([("法轮", "suspect")]).find(text))
    assert result == '<mark class="word-suspect">法&lt;&amp;&gt;轮</mark>'


def test_highlight_without_matches_only_escapes() -> None:
    assert highlight("<b>a & b</b>", []) == "&lt;b&gt;a &amp; b&lt;/b&gt;"


def test_highlight_merges_overlapping_spans_and_banned_wins() -> None:
    matcher = WordMatcher([("轮功", "banned"), ("法轮", "suspect"), ("vpn", "suspect")])
    text = "练法轮功和vpn"
    assert highlight(text, matcher.find(text)) == (
        '练<mark class="word-banned">法轮功</mark>和<mark class="word-suspect">vpn</mark>'
    )


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        (
            [WordMatch("b", "suspect", 1, 2), WordMatch("a", "banned", 0, 1)],
            '<mark class="word-banned">a</mark><mark class="word-suspect">b</mark>c',
        ),
        (
            [WordMatch("abc", "suspect", 0, 3), WordMatch("b", "suspect", 1, 2)],
            '<mark class="word-suspect">abc</mark>',
        ),
        (
            [WordMatch("x", "banned", 2, 2), WordMatch("c", "banned", 2, 9)],
            'ab<mark class="word-banned">c</mark>',
        ),
    ],
)
def test_highlight_touching_nested_empty_and_out_of_range_spans(
    matches: list[WordMatch], expected: str
) -> None:
    assert highlight("abc", matches) == expected


def test_highlight_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        highlight("abc", [WordMatch("a", '"><script>', 0, 1)])
