"""Generate the audio captcha's voice set, service/voices/, with espeak-ng and sox.

Every captcha character is spoken by several synthetic voices at several pitches and
speeds: the digits 3 4 7 9 in Mandarin (三 四 七 九), the letters by their English names
(as Chinese readers learn them at school). Each file is trimmed of silence, resampled to
8 kHz mono 16-bit and normalised, then committed: the service reads the files at start
and never runs espeak-ng or sox itself. The files are our own, not the captcha
package's public recordings, which an attacker can template-match (docs/security.md).

    apt-get install -y espeak-ng sox
    .venv/bin/python scripts/make_voices.py            # rewrites service/voices/
    .venv/bin/python scripts/make_voices.py --out /tmp/voices

The output depends on the espeak-ng version (1.51 made the committed set); running the
script again with the same version reproduces the same samples.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.captcha import ALPHABET  # noqa: E402

OUT = ROOT / "service" / "voices"
RATE = 8000

# What each character is read as. The cmn voice reads Chinese characters through an
# English fallback in espeak-ng 1.51 ("san one"); cmn-latn-pinyin reads them as Mandarin.
MANDARIN = {"3": "三", "4": "四", "7": "七", "9": "九"}
MANDARIN_VOICE = "cmn-latn-pinyin"
ENGLISH_VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-us-nyc", "en-gb-scotland", "en-029")

# (voice variant, pitch 0-99, words per minute): four male and four female voices, each
# at its own pitch, all at an unhurried pace. Whispering and "robot" variants were left
# out: they are harder to understand through the babble the renderer adds.
VARIANTS = (
    ("m1", 40, 145),
    ("m3", 50, 150),
    ("m7", 35, 140),
    ("m2", 60, 150),
    ("f2", 55, 140),
    ("f3", 65, 145),
    ("f4", 45, 150),
    ("f1", 70, 140),
)


def speak(char: str, index: int) -> list[str]:
    """The espeak-ng command that reads one variant of one character to stdout."""
    variant, pitch, speed = VARIANTS[index]
    if char in MANDARIN:
        voice, text = MANDARIN_VOICE, MANDARIN[char]
    else:
        voice, text = ENGLISH_VOICES[index % len(ENGLISH_VOICES)], char
    command = ["espeak-ng", "-v", f"{voice}+{variant}", "-p", str(pitch), "-s", str(speed)]
    return [*command, "--stdout", text]


def make_voice(char: str, index: int, path: Path) -> None:
    """Speak one variant into a trimmed, normalised 8 kHz mono 16-bit WAV."""
    spoken = subprocess.run(speak(char, index), check=True, capture_output=True).stdout
    # Trim silence at both ends (the reverse trick), then peak-normalise to -1 dBFS.
    trim = ["silence", "1", "0.02", "0.5%"]
    # No dither: the same espeak-ng output then gives the same bytes.
    sox = ["sox", "-D", "-t", "wav", "-", "-r", str(RATE), "-c", "1", "-b", "16", str(path)]
    subprocess.run(
        [*sox, *trim, "reverse", *trim, "reverse", "norm", "-1"], input=spoken, check=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=OUT, help="directory to (re)write")
    args = parser.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install -y espeak-ng sox")
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.wav"):
        old.unlink()
    for char in ALPHABET:
        for index in range(len(VARIANTS)):
            make_voice(char, index, args.out / f"{char}-{index + 1}.wav")
    files = sorted(args.out.glob("*.wav"))
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {size / 1024:.0f} KiB in {args.out}")


if __name__ == "__main__":
    main()
