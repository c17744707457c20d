"""Admin pages for notifications (/mod/admin/notifications): channels and deliveries.

The routes join the admin blueprint (its session, CSRF and error pages); the
app factory imports this module before registering that blueprint.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user

from .. import auth, notify
from ..errors import BadRequest
from ..jobs import queue_of
from ..params import check_page
from .admin import bp

STATUSES = {status.value: status for status in notify.DeliveryStatus}


@bp.get("/notifications")
@auth.admin_required
def notifications() -> ResponseReturnValue:
    """Configured channels and every notification: waiting, delivered, failed (with why)."""
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest()
    return render_template(
        "admin/notifications.html",
        deliveries=notify.list_deliveries(
            STATUSES[status] if status else None, check_page(request.args.get("page"))
        ),
        counts=notify.counts_by_status(),
        status=status,
        settings=notify.settings(),
        storage=queue_of().storage,
    )


@bp.post("/notifications/<int:delivery_id>/retry")
@auth.admin_required
def retry_notification(delivery_id: int) -> ResponseReturnValue:
    """Send a failed notification again (a fresh round of attempts)."""
    notify.retry(delivery_id, current_user)
    flash(gettext("Notification #%(id)d will be sent again.", id=delivery_id), "success")
    return redirect(url_for(".notifications"), code=303)


@bp.post("/notifications/test")
@auth.admin_required
def test_notification() -> ResponseReturnValue:
    """Send a test notification to one configured channel."""
    delivery = notify.send_test(request.form.get("channel", "")[:80], current_user)
    flash(gettext("Test notification #%(id)d queued.", id=delivery.id), "success")
    return redirect(url_for(".notifications"), code=303)
