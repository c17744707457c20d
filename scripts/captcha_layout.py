"""Where each captcha character's ink lands: clipped characters and overlapping neighbours.

Renders N seeded captcha images exactly as the service does and, while each is drawn,
records every character layer pasted onto the canvas: where it went and where its ink
(the paste mask) lies. Nothing of the renderer is re-implemented, so the boxes are those
of the very image a reader gets. Prints how many images have a clipped character, how
many have neighbours overlapping beyond the threshold, the smallest margin, the worst
overlap and the CPU time per image (PNG included, nothing recorded).

    .venv/bin/python scripts/captcha_layout.py              # service/captcha.py, 2000 images
    .venv/bin/python scripts/captcha_layout.py -n 300
    git show HEAD:service/captcha.py > /tmp/old_captcha.py
    .venv/bin/python scripts/captcha_layout.py --module /tmp/old_captcha.py

A character counts as clipped if its ink comes closer than MIN_MARGIN px to an edge of
the image, or if its ink reaches the edge of its own layer: then it may have been cut
when the layer was made (the library's warp cuts glyphs so), and only a clear pixel
around the ink shows that it was not. Neighbours overlap too much if their ink boxes
overlap horizontally by more than MAX_OVERLAP of the narrower one's width. A squeezed
canvas (the library squeezes text wider than the image) is measured by scaling the boxes.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Ink boxes are measured before the final 3x3 smoothing, which adds a faint 1 px halo:
# 3 px here leaves at least 2 px of clear background in the image served.
MIN_MARGIN = 3
# Rotated letters leave the corners of their boxes empty, so boxes overlapping by up to a
# tenth of the narrower letter put a corner of one into an empty corner of the other: the
# strokes stay apart or at most graze, and each letter keeps its shape. (The library's
# layout overlapped boxes by up to 37 %, and there strokes ran into each other.)
MAX_OVERLAP = 0.10
WIDTH, HEIGHT, LENGTH = 220, 70, 5

Box = tuple[float, float, float, float]  # left, top, right, bottom (exclusive), image px


@dataclass(frozen=True)
class Glyph:
    """One character's ink as pasted onto the image."""

    box: Box
    cut: bool  # its ink reached the edge of its own layer


@dataclass(frozen=True)
class Layout:
    """Where the characters of one image lie."""

    text: str
    width: int
    height: int
    glyphs: tuple[Glyph, ...]

    @property
    def margin(self) -> float:
        """The smallest distance between any character's ink and the image's edge."""
        return min(
            min(left, top, self.width - right, self.height - bottom)
            for left, top, right, bottom in (glyph.box for glyph in self.glyphs)
        )

    @property
    def overlaps(self) -> list[float]:
        """Each pair of neighbours' horizontal ink overlap, as a share of the narrower."""
        shares = []
        for first, second in zip(self.glyphs, self.glyphs[1:], strict=False):
            (l1, _, r1, _), (l2, _, r2, _) = first.box, second.box
            overlap = max(0.0, min(r1, r2) - max(l1, l2))
            shares.append(overlap / min(r1 - l1, r2 - l2))
        return shares

    @property
    def too_close(self) -> bool:
        """A character's ink comes closer than MIN_MARGIN to the image's edge (or past it)."""
        return self.margin < MIN_MARGIN

    @property
    def cut(self) -> bool:
        """A character's ink reaches the edge of its own layer, or a character is missing."""
        return len(self.glyphs) != len(self.text) or any(glyph.cut for glyph in self.glyphs)

    @property
    def clipped(self) -> bool:
        """A character is cut by its own layer, or by the image's edge or margin."""
        return self.cut or self.too_close

    @property
    def overlapping(self) -> bool:
        """Two neighbours overlap by more than MAX_OVERLAP."""
        return any(share > MAX_OVERLAP for share in self.overlaps)


@dataclass(frozen=True)
class Summary:
    """The figures over many images."""

    images: int
    clipped: int
    too_close: int
    cut: int
    overlapping: int
    min_margin: float
    worst_overlap: float
    ms_per_image: float | None

    def report(self) -> str:
        """The summary as the script prints it."""
        timing = "not measured" if self.ms_per_image is None else f"{self.ms_per_image:.2f}"
        rows = [
            ("images", self.images),
            ("with a clipped character", self.clipped),
            (f"  ink closer than {MIN_MARGIN} px to the edge", self.too_close),
            ("  ink cut at its own layer's edge", self.cut),
            (f"with neighbours overlapping > {MAX_OVERLAP:.0%}", self.overlapping),
            ("smallest margin (px)", f"{self.min_margin:.1f}"),
            ("worst neighbour overlap", f"{self.worst_overlap:.1%}"),
            ("CPU ms per image (PNG)", timing),
        ]
        return "\n".join(f"{label + ':':<40} {value}" for label, value in rows)


@contextmanager
def seeded(module: ModuleType, seed: int) -> Iterator[None]:
    """Draw the renderer's randomness from ``seed``, the way ``_render`` seeds it per token."""
    module._seeded.rng = random.Random(seed)
    try:
        yield
    finally:
        module._seeded.rng = None


@contextmanager
def recording_pastes(height: int) -> Iterator[list[tuple[int, Any, Image.Image]]]:
    """Record (canvas width, box, mask) of each layer pasted onto an RGB canvas this tall.

    Patches ``Image.paste`` for the duration: use it from one thread at a time.
    """
    pastes: list[tuple[int, Any, Image.Image]] = []
    original = Image.Image.paste

    def paste(self: Image.Image, im: Any, box: Any = None, mask: Any = None) -> None:
        if self.mode == "RGB" and self.height == height:
            # A layer pasted through a mask (a colour or an image), or an image with alpha.
            layer = mask
            if layer is None and isinstance(im, Image.Image):
                layer = im.getchannel("A") if "A" in im.getbands() else im.convert("L")
            if layer is not None:
                pastes.append((self.width, box, layer))
        original(self, im, box, mask)

    Image.Image.paste = paste  # type: ignore[method-assign]
    try:
        yield pastes
    finally:
        Image.Image.paste = original  # type: ignore[method-assign]


def render(renderer: Any, module: ModuleType, text: str, seed: int) -> tuple[Image.Image, Layout]:
    """Render one image exactly as served, and where each character's ink lies in it."""
    with seeded(module, seed), recording_pastes(renderer._height) as pastes:
        image = renderer.generate_image(text)
    glyphs = []
    for canvas_width, box, mask in pastes:
        ink = mask.getbbox()
        if ink is None:  # an empty layer, such as a space
            continue
        x, y = box[0], box[1]
        # A canvas wider than the image is squeezed to the image's width at the end.
        scale = image.width / canvas_width
        left, top, right, bottom = ink
        glyphs.append(
            Glyph(
                box=((x + left) * scale, y + top, (x + right) * scale, y + bottom),
                cut=left == 0 or top == 0 or right == mask.width or bottom == mask.height,
            )
        )
    return image, Layout(text=text, width=image.width, height=image.height, glyphs=tuple(glyphs))


def renderer_of(module: ModuleType, width: int = WIDTH, height: int = HEIGHT) -> Any:
    """The image renderer as ``init_app`` makes it."""
    if hasattr(module, "image_renderer"):
        return module.image_renderer(width, height)
    # An older captcha.py, without image_renderer: as its init_app made it.
    fonts = sorted(str(p) for p in module.FONTS_DIR.glob("*.ttf"))
    return module.ClearImageCaptcha(
        width=width, height=height, fonts=fonts, font_sizes=(44, 48, 52)
    )


def text_for(module: ModuleType, seed: int, length: int = LENGTH) -> str:
    """A random answer for image ``seed``, from the captcha's alphabet."""
    rng = random.Random(f"text-{seed}")
    return "".join(rng.choice(module.ALPHABET) for _ in range(length))


def layouts(
    module: ModuleType, images: int, first_seed: int = 0, renderer: Any = None
) -> Iterator[Layout]:
    """The layout of each of ``images`` seeded images (by the service's renderer)."""
    renderer = renderer or renderer_of(module)
    for seed in range(first_seed, first_seed + images):
        yield render(renderer, module, text_for(module, seed), seed)[1]


def ms_per_image(
    module: ModuleType, images: int, first_seed: int = 0, renderer: Any = None
) -> float:
    """CPU time to render one image to PNG, as served, without recording anything.

    CPU time, not wall time: it does not count the time other processes take the CPU.
    """
    renderer = renderer or renderer_of(module)
    texts = [text_for(module, seed) for seed in range(first_seed, first_seed + images)]
    start = time.process_time()
    for seed, text in enumerate(texts, start=first_seed):
        with seeded(module, seed):
            renderer.generate(text, format="png")
    return (time.process_time() - start) * 1000 / images


def measure(
    module: ModuleType,
    images: int = 2000,
    first_seed: int = 0,
    timing: bool = True,
    renderer: Any = None,
) -> Summary:
    """Clipped and overlapping images among ``images`` seeded ones, and ms per image."""
    clipped = too_close = cut = overlapping = 0
    min_margin = float("inf")
    worst = 0.0
    for layout in layouts(module, images, first_seed, renderer):
        clipped += layout.clipped
        cut += layout.cut
        overlapping += layout.overlapping
        if layout.glyphs:
            too_close += layout.too_close
            min_margin = min(min_margin, layout.margin)
            worst = max([worst, *layout.overlaps])
    return Summary(
        images=images,
        clipped=clipped,
        too_close=too_close,
        cut=cut,
        overlapping=overlapping,
        min_margin=min_margin,
        worst_overlap=worst,
        ms_per_image=ms_per_image(module, images, first_seed, renderer) if timing else None,
    )


def load(path: Path | None) -> ModuleType:
    """service.captcha, or another version of that file (for instance an older one)."""
    import service.captcha

    if path is None:
        return service.captcha
    # Load it inside the service package, so its relative imports resolve.
    spec = importlib.util.spec_from_file_location("service._captcha_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    """Print the figures for N images."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--images", type=int, default=2000)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--module", type=Path, help="a captcha.py to measure instead")
    parser.add_argument("--save", type=Path, help="also write the first 12 images here")
    args = parser.parse_args()
    module = load(args.module)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        renderer = renderer_of(module)
        for seed in range(args.first_seed, args.first_seed + 12):
            with seeded(module, seed):
                renderer.write(text_for(module, seed), str(args.save / f"captcha-{seed}.png"))
    print(measure(module, args.images, args.first_seed).report())


if __name__ == "__main__":
    main()
