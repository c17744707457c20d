"""CI's small spam wave: scripts/spamwave.py against a real gunicorn instance.

200 posts from 60 addresses with every mutation, 10 genuine readers among them,
rate limits on, a trusted proxy, the captcha in test mode standing in for a
perfect solver. Fails when more than 5% of the wave reach the moderators or a
genuine reader is not served on the first try.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import spamwave  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_small_wave_stays_out_of_the_moderators_queue():
    args = spamwave.parse_args(
        [
            "--posts",
            "200",
            "--addresses",
            "60",
            "--rate",
            "900",
            "--readers",
            "10",
            "--workers",
            "2",
            "--timeout",
            "60",
        ]
    )

    report = spamwave.run(args)

    print(report.text())
    assert report.attempts == 200
    assert report.before_percent <= 5.0, report.text()
    assert report.spam + report.refused + report.before == report.attempts
    assert report.reader_first_try == report.readers == 10, report.text()
    assert report.reader_pending == 10
    assert report.errors == {}
