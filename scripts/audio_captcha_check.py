"""Audio captcha: does the public-file attack still work, and can a person still hear it?

The attack is the one reported against the old renderer: a sliding normalised
cross-correlation (least squares with a free gain) of every character of the captcha
package's public voice files, at 31 speeds from 0.90 to 1.20 (the old renderer's range,
stretched by the package's own change_speed), over the whole sound; the five best
non-overlapping matches, in time order, are the answer. It runs against the old
renderer (the package's AudioCaptcha, seeded as the service seeded it) and against ours.
Against ours it also gets the true place of each character (an upper bound: the
matching alone is tested).

A person cannot be asked here, so hearing is measured three ways on our sounds:
- the speech-to-background ratio (SNR, dB) over each character: speech vs babble + noise;
- a listener who knows how each character sounds in our voices but not this sound's
  distortion: nearest template by DTW over mel cepstra, told where each character is
  (as a person hears where it is); once with all eight voices as templates, once with
  only the seven *other* voices (a person knows how a letter sounds, not this recording);
- length and gaps.
It also prints what an attacker holding our own voice files gets from the same
correlation attack (docs/security.md says why that is the rate limit's job), the CPU
time per WAV of both renderers, and the size of the voice set.

    .venv/bin/python scripts/audio_captcha_check.py          # 40 challenges
    .venv/bin/python scripts/audio_captcha_check.py -n 10 --old 5
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import captcha.audio
import numpy as np
from captcha.audio import AudioCaptcha

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.captcha import ALPHABET, _SeededSecrets  # noqa: E402
from service.captcha_audio import RATE, SPEECH_RATE, VOICES_DIR, Plan, VoiceCaptcha  # noqa: E402

LENGTH = 5
SPEEDS = tuple(float(s) for s in np.round(np.linspace(0.90, 1.20, 31), 2))
# Two matches closer than this are one character (the old renderer's gaps are >= 1 s,
# ours >= 0.45 s plus the character).
SUPPRESS = int(0.4 * RATE)
# The true place of a character, give or take this, for the attacks told where it is.
SLACK = int(0.15 * RATE)
# The listener hears each character from just before it starts to just after it ends.
LISTEN_SLACK = int(0.05 * RATE)


def text_for(seed: int) -> str:
    """The answer of challenge ``seed``."""
    rng = random.Random(f"text:{seed}")
    return "".join(rng.choice(ALPHABET) for _ in range(LENGTH))


def read_wav(data: bytes) -> np.ndarray:
    """A mono WAV (8-bit unsigned or 16-bit) as float samples."""
    with wave.open(io.BytesIO(data)) as file:
        frames = file.readframes(file.getnframes())
        if file.getsampwidth() == 1:
            return (np.frombuffer(frames, np.uint8).astype(float) - 128) / 128
        return np.frombuffer(frames, "<i2") / 32768


# --- the renderers ------------------------------------------------------------------------


@contextmanager
def seeded_library(seed: int) -> Iterator[None]:
    """The captcha package drawing from a seeded generator, as the old service had it."""
    stand_in = _SeededSecrets()
    stand_in.rng = random.Random(f"render:{seed}")
    saved = captcha.audio.secrets
    captcha.audio.secrets = stand_in  # type: ignore[attr-defined]
    try:
        yield
    finally:
        captcha.audio.secrets = saved  # type: ignore[attr-defined]


_library = AudioCaptcha()


def old_wav(seed: int) -> bytes:
    """Challenge ``seed`` as the old renderer spoke it (the package's AudioCaptcha)."""
    with seeded_library(seed):
        return bytes(_library.generate(text_for(seed)))


def new_wav(renderer: VoiceCaptcha, seed: int) -> tuple[bytes, Plan]:
    """Challenge ``seed`` as ours speaks it, and its plan (where each character is)."""
    text = text_for(seed)
    plan = renderer.plan(text, random.Random(f"render:{seed}"))
    return renderer.wav(text, random.Random(f"render:{seed}")), plan


# --- the correlation attack -----------------------------------------------------------------


def change_speed(body: bytes, speed: float) -> np.ndarray:
    """The package's change_speed, vectorised (same float steps, same output)."""
    data = np.frombuffer(bytes(body), np.uint8)
    steps = np.concatenate([[0.0], np.cumsum(np.full(len(data), speed))])
    length = int(len(data) * speed)
    starts = np.floor(steps).astype(int)
    out = np.zeros(length, np.uint8)
    index = np.arange(min(length, starts[-1]))
    out[index] = data[np.searchsorted(starts, index, side="right") - 1]
    return out


def library_templates() -> dict[str, list[np.ndarray]]:
    """The package's public recording of each captcha character, at every speed."""
    templates = {}
    for char in ALPHABET:
        path = Path(captcha.audio.DATA_DIR) / char / "default.wav"
        body = captcha.audio._read_wave_file(str(path))
        # Without the file's leading and trailing silence, which would only add noise.
        loud = np.nonzero(np.abs(np.frombuffer(bytes(body), np.uint8).astype(int) - 128) > 2)[0]
        body = body[loud[0] : loud[-1] + 1]
        templates[char] = [(change_speed(body, s).astype(float) - 128) / 128 for s in SPEEDS]
    return templates


def voice_templates(renderer: VoiceCaptcha) -> dict[str, list[np.ndarray]]:
    """Our own voice files, every recording at every rate the renderer plays them."""
    templates: dict[str, list[np.ndarray]] = {}
    for char in ALPHABET:
        for source in renderer.voices[char]:
            sample = renderer.samples[source]
            for rate in np.linspace(*SPEECH_RATE, 10):
                position = np.arange(0, len(sample) - 1, rate)
                resampled = np.interp(position, np.arange(len(sample)), sample)
                templates.setdefault(char, []).append(resampled)
    return templates


@dataclass
class Scores:
    """The best normalised correlation at each position, and which character gave it."""

    best: np.ndarray
    label: np.ndarray


class Correlator:
    """Slides templates over a sound: the least-squares fit with a free gain (their NCC).

    Overlap-save in blocks of BLOCK samples, each template's spectrum computed once.
    """

    BLOCK = 16384

    def __init__(self, templates: dict[str, list[np.ndarray]]) -> None:
        self.longest = max(len(t) for ts in templates.values() for t in ts)
        self.hop = self.BLOCK - self.longest + 1
        self.lengths = [[len(t) for t in templates[char]] for char in ALPHABET]
        self.spectra = []
        for char in ALPHABET:
            kernels = np.zeros((len(templates[char]), self.BLOCK), np.float32)
            for row, template in enumerate(templates[char]):
                centred = template - template.mean()
                kernels[row, : len(template)] = centred[::-1] / np.linalg.norm(centred)
            self.spectra.append(np.fft.rfft(kernels, axis=1))

    def __call__(self, signal: np.ndarray) -> Scores:
        """The best fit at each position of ``signal``, and its character."""
        count = len(signal)
        blocks = -(-count // self.hop)
        padded = np.zeros(blocks * self.hop + self.longest, np.float32)
        padded[:count] = signal
        starts = np.arange(blocks) * self.hop
        spectrum = np.fft.rfft(padded[starts[:, None] + np.arange(self.BLOCK)], axis=1)
        power = np.cumsum(np.concatenate([[0.0], padded.astype(float) ** 2]))
        best = np.full(count, -np.inf, np.float32)
        label = np.zeros(count, int)
        for index, (spectra, lengths) in enumerate(zip(self.spectra, self.lengths, strict=True)):
            products = np.fft.irfft(spectra[:, None, :] * spectrum[None, :, :], axis=2)
            score = np.full(count, -np.inf, np.float32)
            for row, length in enumerate(lengths):
                # Block b's sample length - 1 + j is the fit at position b * hop + j.
                dots = products[row, :, length - 1 : length - 1 + self.hop].reshape(-1)[:count]
                norms = np.sqrt(np.maximum(power[length : length + count] - power[:count], 1e-9))
                np.maximum(score, dots / norms, out=score)
            better = score > best
            best[better] = score[better]
            label[better] = index
        return Scores(best, label)


def blind_answer(scores: Scores, length: int = LENGTH) -> str:
    """The ``length`` best matches that do not overlap, read in time order."""
    best = scores.best.copy()
    picks = []
    for _ in range(length):
        position = int(np.argmax(best))
        picks.append((position, ALPHABET[scores.label[position]]))
        best[max(0, position - SUPPRESS) : position + SUPPRESS] = -np.inf
    return "".join(char for _, char in sorted(picks))


def told_answer(scores: Scores, plan: Plan) -> str:
    """The best match within each character's true place."""
    answer = []
    for clip in plan.spoken:
        window = slice(max(0, clip.start - SLACK), clip.start + SLACK)
        answer.append(ALPHABET[scores.label[window][np.argmax(scores.best[window])]])
    return "".join(answer)


# --- a listener who knows how the characters sound ----------------------------------------


def _mel_matrix(bands: int = 24, size: int = 256) -> np.ndarray:
    """Triangular mel filters from 100 Hz to 3.8 kHz."""
    low, high = (2595 * np.log10(1 + f / 700) for f in (100, 3800))
    edges = 700 * (10 ** (np.linspace(low, high, bands + 2) / 2595) - 1) * size / RATE
    bins = np.arange(size // 2 + 1)
    rising = (bins[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - bins[None, :]) / (edges[2:, None] - edges[1:-1, None])
    return np.maximum(0, np.minimum(rising, falling))


MEL = _mel_matrix()
DCT = np.cos(np.pi / 24 * (np.arange(24)[None, :] + 0.5) * np.arange(1, 9)[:, None])
# What lies this far below the loudest part is not heard (not compared): the ear hears
# a voice over a background, not the background's detail under the voice's quiet ends.
DYNAMIC_RANGE_DB = 30


def cepstra(samples: np.ndarray) -> np.ndarray:
    """8 mel cepstra per 10 ms (32 ms frames), loudness and the unheard left out."""
    count = max(1, 1 + (len(samples) - 256) // 80)
    padded = np.concatenate([samples, np.zeros(256)])
    frames = np.stack([padded[i * 80 : i * 80 + 256] for i in range(count)]) * np.hamming(256)
    power = (np.abs(np.fft.rfft(frames, 256)) ** 2) @ MEL.T
    floor = power.max() * 10 ** (-DYNAMIC_RANGE_DB / 10) + 1e-12
    return np.log(np.maximum(power, floor)) @ DCT.T


def dtw_costs(segment: np.ndarray, templates: list[np.ndarray]) -> np.ndarray:
    """Subsequence DTW of every template within the segment, per template frame.

    Each template frame moves on one or two segment frames, or two template frames share
    one (slopes 1/2 to 2); the template may start and end anywhere in the segment.
    """
    longest = max(len(t) for t in templates)
    stacked = np.zeros((len(templates), longest, segment.shape[1]))
    for k, template in enumerate(templates):
        stacked[k, : len(template)] = template
    lengths = np.array([len(t) for t in templates])
    cost = np.linalg.norm(stacked[:, :, None, :] - segment[None, None, :, :], axis=3)
    result = np.full(len(templates), np.inf)
    before = np.full((len(templates), segment.shape[0]), np.inf)
    current = cost[:, 0, :].copy()
    for row in range(1, longest):
        previous = current
        step = np.full_like(previous, np.inf)
        step[:, 1:] = np.minimum(previous[:, :-1], before[:, :-1])
        step[:, 2:] = np.minimum(step[:, 2:], previous[:, :-2])
        current = cost[:, row, :] + step
        before = previous
        done = lengths == row + 1
        result[done] = current[done].min(axis=1) / lengths[done]
    return result


class Listener:
    """Knows how each character sounds in our voices; told where each character is.

    Nearest template by DTW over mel cepstra: a crude machine ear, far worse than a
    person at hearing through noise, so what it hears a person hears too. With
    ``other_voices`` it may not use the voice that spoke the character (a person knows
    how a letter sounds, not this recording).
    """

    def __init__(self, renderer: VoiceCaptcha) -> None:
        self.renderer = renderer
        self.chars = {s: c for c, sources in renderer.voices.items() for s in sources}
        # The files are <char>-<n>.wav, loaded in order: n - 1 is the voice.
        self.voice = {s: i for sources in renderer.voices.values() for i, s in enumerate(sources)}
        self.templates = [cepstra(sample) for sample in renderer.samples]

    def hear(self, sound: np.ndarray, plan: Plan, other_voices: bool = False) -> str:
        """The characters heard at the places the plan put them."""
        heard = []
        for clip in plan.spoken:
            window = sound[
                max(0, clip.start - LISTEN_SLACK) : clip.start + clip.length + LISTEN_SLACK
            ]
            costs = dtw_costs(cepstra(window), self.templates)
            if other_voices:
                costs[[s for s, v in self.voice.items() if v == self.voice[clip.source]]] = np.inf
            heard.append(self.chars[int(np.argmin(costs))])
        return "".join(heard)

    def clean_share(self, other_voices: bool = True) -> float:
        """The share of clean voice files it names right (its ceiling)."""
        right = 0
        for source, template in enumerate(self.templates):
            costs = dtw_costs(template, self.templates)
            costs[source] = np.inf
            if other_voices:
                costs[[s for s, v in self.voice.items() if v == self.voice[source]]] = np.inf
            right += self.chars[int(np.argmin(costs))] == self.chars[source]
        return right / len(self.templates)


# --- hearing -------------------------------------------------------------------------------


def snr_db(renderer: VoiceCaptcha, plan: Plan) -> list[float]:
    """Speech over background (babble and noise), in dB, over each character."""
    speech, background = renderer.layers(plan)
    ratios = []
    for clip in plan.spoken:
        span = slice(clip.start, clip.start + clip.length)
        ratios.append(10 * np.log10(np.sum(speech[span] ** 2) / np.sum(background[span] ** 2)))
    return ratios


def gaps_s(plan: Plan) -> list[float]:
    """Seconds between one character's end and the next one's start."""
    return [
        (b.start - a.start - a.length) / RATE
        for a, b in zip(plan.spoken, plan.spoken[1:], strict=False)
    ]


# --- the report ----------------------------------------------------------------------------


def share(answers: list[tuple[str, str]]) -> str:
    """Whole answers and characters right, of all."""
    whole = sum(given == truth for given, truth in answers)
    chars = sum(a == b for given, truth in answers for a, b in zip(given, truth, strict=True))
    total = LENGTH * len(answers)
    return (
        f"solved {whole}/{len(answers)} ({100 * whole / len(answers):.0f} %), "
        f"characters {chars}/{total} ({100 * chars / total:.0f} %)"
    )


def cpu_ms(make: Callable[[int], object], count: int) -> float:
    """CPU milliseconds per call of ``make(seed)``."""
    start = time.process_time()
    for seed in range(count):
        make(seed)
    return 1000 * (time.process_time() - start) / count


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--challenges", type=int, default=40, help="of ours")
    parser.add_argument("--old", type=int, default=10, help="of the old renderer")
    parser.add_argument("--own", type=int, default=10, help="attacked with our own files")
    args = parser.parse_args()
    renderer = VoiceCaptcha()
    public = Correlator(library_templates())

    print(f"Attack: the public voice files, {len(ALPHABET)} characters x {len(SPEEDS)} speeds")
    old = [(blind_answer(public(read_wav(old_wav(s)))), text_for(s)) for s in range(args.old)]
    print(f"  old renderer:                  {share(old)}")
    blind, told, near, far, snrs, gaps, lengths = [], [], [], [], [], [], []
    listener = Listener(renderer)
    for seed in range(args.challenges):
        data, plan = new_wav(renderer, seed)
        sound, truth = read_wav(data), text_for(seed)
        scores = public(sound)
        blind.append((blind_answer(scores), truth))
        told.append((told_answer(scores, plan), truth))
        near.append((listener.hear(sound, plan), truth))
        far.append((listener.hear(sound, plan, other_voices=True), truth))
        snrs += snr_db(renderer, plan)
        gaps += gaps_s(plan)
        lengths.append(plan.length / RATE)
    print(f"  ours:                          {share(blind)}  (chance: 1 in {len(ALPHABET)})")
    print(f"  ours, told where each one is:  {share(told)}")
    print("Hearing ours")
    print(
        f"  speech over babble per character: min {min(snrs):.1f} dB, "
        f"median {statistics.median(snrs):.1f} dB"
    )
    print(f"  listener knowing our voices:      {share(near)}")
    print(
        f"  ... knowing only the other voices: {share(far)} "
        f"(on the clean files: {100 * listener.clean_share():.0f} % of characters)"
    )
    print(
        f"  length {min(lengths):.1f}-{max(lengths):.1f} s, "
        f"gaps between characters {min(gaps):.2f}-{max(gaps):.2f} s"
    )
    own = Correlator(voice_templates(renderer))
    owned = []
    for seed in range(args.own):
        data, plan = new_wav(renderer, seed)
        owned.append((told_answer(own(read_wav(data)), plan), text_for(seed)))
    print(f"Attack with our own voice files at 10 rates, told where: {share(owned)}")
    print("CPU per WAV")
    before = cpu_ms(old_wav, 10)
    after = cpu_ms(lambda s: new_wav(renderer, s), 200)
    plans = cpu_ms(lambda s: renderer.wav_size(text_for(s), random.Random(s)), 1000)
    print(f"  old {before:.0f} ms; ours {after:.1f} ms, its size alone (HEAD) {plans:.2f} ms")
    voices = sorted(VOICES_DIR.glob("*.wav"))
    size = sum(v.stat().st_size for v in voices)
    print(f"Voice set: {len(voices)} files, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
