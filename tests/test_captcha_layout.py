"""Captcha images: every character lies whole inside the image, apart from its neighbours.

Measured by scripts/captcha_layout.py, which records where the renderer pastes each
character while it draws the very image a reader gets (same seeded randomness).
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from captcha.image import ImageCaptcha

from service import captcha

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "captcha_layout.py"


@pytest.fixture(scope="module")
def layout() -> ModuleType:
    """scripts/captcha_layout.py as a module."""
    if "captcha_layout" in sys.modules:
        return sys.modules["captcha_layout"]
    spec = importlib.util.spec_from_file_location("captcha_layout", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["captcha_layout"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def with_fonts(renderer_class: type[ImageCaptcha], width: int = 220, height: int = 70) -> Any:
    """A renderer of this class with the service's fonts and sizes."""
    fonts = sorted(str(p) for p in captcha.FONTS_DIR.glob("*.ttf"))
    return renderer_class(width=width, height=height, fonts=fonts, font_sizes=captcha.FONT_SIZES)


class LibraryLayout(ImageCaptcha):
    """The settings served before: the library's own glyphs and layout."""

    character_rotate = (-20, 20)
    character_warp_dx = (0.1, 0.2)
    character_warp_dy = (0.1, 0.2)
    word_space_probability = 1.0


class PastTheEdge(captcha.ClearImageCaptcha):
    margin = -8


class Crowded(captcha.ClearImageCaptcha):
    character_overlap = 0.4
    character_gap = -0.2


def test_300_images_have_no_clipped_character_and_no_overlapping_neighbours(
    layout: ModuleType,
) -> None:
    summary = layout.measure(captcha, images=300, timing=False)

    assert summary.clipped == 0, summary.report()
    assert summary.overlapping == 0, summary.report()
    assert summary.min_margin >= layout.MIN_MARGIN
    assert summary.worst_overlap <= layout.MAX_OVERLAP


@pytest.mark.parametrize("size", [(300, 90), (160, 60)])
def test_other_image_sizes_keep_characters_whole_and_apart(
    layout: ModuleType, size: tuple[int, int]
) -> None:
    renderer = captcha.image_renderer(*size)

    summary = layout.measure(captcha, images=100, timing=False, renderer=renderer)

    assert (summary.clipped, summary.overlapping) == (0, 0), summary.report()


def test_every_character_of_the_answer_is_found_in_its_image(layout: ModuleType) -> None:
    for found in layout.layouts(captcha, images=50, first_seed=7000):
        assert len(found.glyphs) == len(found.text) == 5
        lefts = [glyph.box[0] for glyph in found.glyphs]
        assert lefts == sorted(lefts)  # pasted left to right, in reading order


def test_measuring_an_image_does_not_change_it(layout: ModuleType) -> None:
    renderer = captcha.image_renderer(220, 70)
    for seed in range(5):
        text = layout.text_for(captcha, seed)
        measured, _ = layout.render(renderer, captcha, text, seed)
        with layout.seeded(captcha, seed):
            served = renderer.generate_image(text)

        assert png(measured) == png(served)


def test_same_seed_renders_the_same_image_and_another_seed_another(layout: ModuleType) -> None:
    renderer = captcha.image_renderer(220, 70)

    def image(seed: int) -> bytes:
        with layout.seeded(captcha, seed):
            return png(renderer.generate_image("ACDEF"))

    assert image(1) == image(1)
    assert image(1) != image(2)


# --- the measurement catches what it is meant to catch -------------------------------------


def test_measurement_finds_clipped_and_overlapping_characters_of_the_old_settings(
    layout: ModuleType,
) -> None:
    summary = layout.measure(captcha, images=100, timing=False, renderer=with_fonts(LibraryLayout))

    assert summary.clipped > 0
    assert summary.overlapping > 0
    assert summary.worst_overlap > layout.MAX_OVERLAP


def test_measurement_finds_characters_placed_past_the_edge(layout: ModuleType) -> None:
    summary = layout.measure(captcha, images=50, timing=False, renderer=with_fonts(PastTheEdge))

    assert summary.clipped > 0
    assert summary.min_margin < 0


def test_measurement_finds_crowded_neighbours(layout: ModuleType) -> None:
    summary = layout.measure(captcha, images=50, timing=False, renderer=with_fonts(Crowded))

    assert summary.overlapping > 0
    assert summary.clipped == 0


def png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="png")
    return out.getvalue()
