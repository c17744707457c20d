"""Portal colours for the widget: an accent that always keeps WCAG AA contrast."""

from __future__ import annotations

import re

HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
LIGHT_BACKGROUND = (255, 255, 255)
DARK_BACKGROUND = (13, 17, 23)
AA = 4.5

RGB = tuple[int, int, int]


def parse_hex(value: str | None) -> RGB | None:
    match = HEX.fullmatch(value or "")
    if not match:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def to_hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def luminance(rgb: RGB) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix(rgb: RGB, target: RGB, amount: float) -> RGB:
    return tuple(round(c + (t - c) * amount) for c, t in zip(rgb, target, strict=True))  # type: ignore[return-value]


def readable_on(rgb: RGB, background: RGB) -> RGB:
    """The accent moved towards black or white just enough for AA contrast."""
    toward = (0, 0, 0) if luminance(background) > 0.5 else (255, 255, 255)
    for step in range(0, 101, 5):
        candidate = _mix(rgb, toward, step / 100)
        if contrast(candidate, background) >= AA:
            return candidate
    return toward


def theme_css(accent: str | None) -> str:
    """CSS custom properties for a portal's accent, for light and dark mode."""
    rgb = parse_hex(accent)
    if rgb is None:
        return ""
    light = readable_on(rgb, LIGHT_BACKGROUND)
    dark = readable_on(rgb, DARK_BACKGROUND)
    dark_vars = f"--cw-accent:{to_hex(dark)};--cw-on-accent:#0d1117"
    return (
        f":root{{--cw-accent:{to_hex(light)};--cw-on-accent:#fff}}\n"
        f"@media (prefers-color-scheme:dark){{html:not([data-theme=light]){{{dark_vars}}}}}\n"
        f"html[data-theme=dark]{{{dark_vars}}}\n"
    )
