"""The dashboard's wave view (/mod/waves): each spam wave as one item, one key to decide.

Routes live on the dashboard's blueprint (its session, sign-in and CSRF).
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, login_required

from .. import antispam
from ..queue import queue_counts
from ..security import SESSION_BLUEPRINTS
from .dashboard import bp, wants_json

BATCH_MAX = 32


@bp.app_context_processor
def attack_context() -> dict[str, object]:
    """The under-attack banner and the open waves' count, on every signed-in page."""
    if request.blueprint not in SESSION_BLUEPRINTS or not current_user.is_authenticated:
        return {}
    return {"attack": antispam.current(), "open_waves": antispam.open_count()}


@bp.get("/waves")
@login_required
def waves() -> ResponseReturnValue:
    """Open waves, newest activity first, and the ones decided lately."""
    undo = (request.args.get("undo") or "")[:BATCH_MAX]
    return render_template(
        "dashboard/waves.html",
        waves=antispam.summaries(),
        decided=antispam.summaries(
            (antispam.WaveStatus.CONFIRMED, antispam.WaveStatus.RELEASED), limit=10
        ),
        undo=undo if undo.isalnum() else None,
    )


def _answer(result: antispam.WaveResult, message: str) -> ResponseReturnValue:
    undo_url = url_for(".undo_wave", batch=result.batch)
    if wants_json():
        counts = {q.value: n for q, n in queue_counts().items()}
        counts["waves"] = antispam.open_count()
        return jsonify(
            ids=[result.wave],
            moved=len(result.moved),
            message=message,
            undo=undo_url,
            counts=counts,
        )
    flash(message, "success")
    return redirect(url_for(".waves", undo=result.batch), code=303)


@bp.post("/waves/<int:wave_id>/confirm")
@login_required
def confirm_wave(wave_id: int) -> ResponseReturnValue:
    """Confirm a wave as spam (its pending members go to spam too)."""
    result = antispam.confirm(wave_id, current_user)
    return _answer(
        result,
        gettext(
            "Wave #%(id)d confirmed as spam; %(n)d more comments moved to spam.",
            id=wave_id,
            n=len(result.moved),
        ),
    )


@bp.post("/waves/<int:wave_id>/release")
@login_required
def release_wave(wave_id: int) -> ResponseReturnValue:
    """Release a false positive: its comments go back to the pending queue."""
    result = antispam.release(wave_id, current_user)
    return _answer(
        result,
        gettext(
            "Wave #%(id)d released; %(n)d comments back to pending.",
            id=wave_id,
            n=len(result.moved),
        ),
    )


@bp.post("/waves/undo/<batch>")
@login_required
def undo_wave(batch: str) -> ResponseReturnValue:
    """Undo a confirm or a release: the wave is open again, its comments back."""
    result = antispam.undo(batch[:BATCH_MAX], current_user)
    message = gettext(
        "Undone: wave #%(id)d is open again; %(n)d comments moved back.",
        id=result.wave,
        n=len(result.moved),
    )
    if wants_json():
        return jsonify(ids=[result.wave], message=message)
    flash(message, "success")
    return redirect(url_for(".waves"), code=303)
