"""Admin pages under /mod/admin: moderators, word lists, trust rules, bans, settings, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user

from .. import auth, bans, exports, submitters, triage, words
from ..audit_log import AuditFilter, known_actions, list_entries
from ..errors import BadRequest, ServiceError
from ..models import ModerationMode, Role, WordKind
from ..params import check_page, text_filter, whole_number, whole_numbers
from ..settings import get_setting, update_settings
from .dashboard import service_error

bp = Blueprint("admin", __name__, url_prefix="/mod/admin")
bp.register_error_handler(ServiceError, service_error)


def page(template: str, **context: object) -> str:
    return render_template(template, **context)


@bp.get("/moderators")
@auth.admin_required
def moderators() -> ResponseReturnValue:
    """Moderator accounts."""
    return page("admin/moderators.html", moderators=auth.list_moderators(), roles=Role)


@bp.post("/moderators")
@auth.admin_required
def add_moderator() -> ResponseReturnValue:
    """Create a moderator or admin account."""
    auth.add_moderator(
        request.form.get("username", "").strip(),
        request.form.get("password", ""),
        admin=request.form.get("role") == Role.ADMIN,
        by=current_user,
    )
    flash(gettext("Moderator added."), "success")
    return redirect(url_for(".moderators"), code=303)


@bp.post("/moderators/<username>")
@auth.admin_required
def change_moderator(username: str) -> ResponseReturnValue:
    """Disable, enable, change the role or reset the password of an account."""
    change = request.form.get("change")
    if change in ("disable", "enable"):
        if username == current_user.username:
            raise BadRequest(gettext("You cannot disable your own account."))
        auth.set_active(username, change == "enable", by=current_user)
    elif change == "role":
        role = request.form.get("role")
        if role not in (Role.ADMIN, Role.MODERATOR):
            raise BadRequest()
        auth.set_role(username, Role(role), by=current_user)
    elif change == "password":
        ended = auth.set_password(username, request.form.get("password", ""), by=current_user)
        message = gettext(
            "Password set. %(sessions)d sessions signed out, %(tokens)d API tokens revoked.",
            sessions=ended.sessions,
            tokens=ended.tokens,
        )
        flash(message, "success")
        return redirect(url_for(".moderators"), code=303)
    else:
        raise BadRequest()
    flash(gettext("Saved."), "success")
    return redirect(url_for(".moderators"), code=303)


@bp.get("/words")
@auth.admin_required
def word_lists() -> ResponseReturnValue:
    """Banned and suspect words."""
    return page(
        "admin/words.html",
        banned=words.list_words(WordKind.BANNED),
        suspect=words.list_words(WordKind.SUSPECT),
    )


@bp.post("/words")
@auth.admin_required
def add_words() -> ResponseReturnValue:
    """Add words, one per line or separated by commas."""
    kind = WordKind.BANNED if request.form.get("kind") == "banned" else WordKind.SUSPECT
    added = words.add_words(request.form.get("words", "")[:20_000], kind, current_user)
    flash(gettext("%(count)d words added.", count=len(added)), "success")
    return redirect(url_for(".word_lists"), code=303)


@bp.post("/words/remove")
@auth.admin_required
def remove_words() -> ResponseReturnValue:
    ids = whole_numbers(request.form.getlist("ids"))
    removed = words.remove_words(ids, current_user)
    flash(gettext("%(count)d words removed.", count=removed), "success")
    return redirect(url_for(".word_lists"), code=303)


@bp.get("/rules")
@auth.admin_required
def rules() -> ResponseReturnValue:
    """Trust rules, evaluated in order."""
    return page("admin/rules.html", rules=triage.list_rules(), labels=triage.RULE_LABELS)


def _int(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    number = whole_number(value)
    if number is None:
        raise BadRequest(gettext("Rule numbers must be whole numbers ≥ 0."))
    return number


@bp.post("/rules")
@auth.admin_required
def save_rules() -> ResponseReturnValue:
    changes = {
        rule.id: {
            "position": _int(f"position-{rule.id}"),
            "threshold": _int(f"threshold-{rule.id}"),
            "window_minutes": _int(f"window-{rule.id}"),
            "enabled": request.form.get(f"enabled-{rule.id}") == "on",
        }
        for rule in triage.list_rules()
    }
    triage.update_rules(changes, current_user)
    flash(gettext("Rules saved."), "success")
    return redirect(url_for(".rules"), code=303)


@bp.get("/bans")
@auth.admin_required
def ban_list() -> ResponseReturnValue:
    """Active bans."""
    return page("admin/bans.html", bans=bans.active_bans())


@bp.post("/bans")
@auth.admin_required
def add_ban() -> ResponseReturnValue:
    typed = request.form.get("days", "").strip()
    days = whole_number(typed, limit=3650)
    if typed and not days:
        raise BadRequest(gettext("Ban length must be 1 to 3650 days."))
    bans.add_ban(
        request.form.get("network", ""),
        days,
        request.form.get("reason"),
        current_user,
    )
    flash(gettext("Ban added."), "success")
    return redirect(url_for(".ban_list"), code=303)


@bp.post("/bans/<int:ban_id>/lift")
@auth.admin_required
def lift_ban(ban_id: int) -> ResponseReturnValue:
    bans.lift_ban(ban_id, current_user)
    flash(gettext("Ban lifted."), "success")
    return redirect(url_for(".ban_list"), code=303)


@bp.get("/settings")
@auth.admin_required
def settings() -> ResponseReturnValue:
    """Site-wide moderation mode and reject reasons."""
    return page(
        "admin/settings.html",
        mode=get_setting("moderation_mode"),
        modes=ModerationMode,
        reject_reasons=get_setting("reject_reasons"),
    )


@bp.post("/settings")
@auth.admin_required
def save_settings() -> ResponseReturnValue:
    mode = request.form.get("mode", "pre")
    if mode not in ("pre", "post"):
        raise BadRequest()
    reasons = [
        line.strip()[:100]
        for line in request.form.get("reject_reasons", "").splitlines()
        if line.strip()
    ][:30]
    update_settings({"moderation_mode": mode, "reject_reasons": reasons}, current_user)
    flash(gettext("Settings saved."), "success")
    return redirect(url_for(".settings"), code=303)


@bp.get("/audit")
@auth.admin_required
def audit_log() -> ResponseReturnValue:
    """Who did what and when, newest first."""
    comment = request.args.get("comment", "").strip()
    f = AuditFilter(
        actor=text_filter(request.args.get("actor"), 64),
        action=text_filter(request.args.get("action"), 32),
        comment_id=whole_number(comment),
        page=check_page(request.args.get("page")),
    )
    return page("admin/audit.html", entries=list_entries(f), filter=f, actions=known_actions())


# --- data: exports, a submitter's data ---------------------------------------------------------


def download(chunks: Iterator[str], content_type: str, name: str) -> Response:
    """A file streamed as it is written, never cached."""
    response = Response(stream_with_context(chunks), content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/data")
@auth.admin_required
def data() -> ResponseReturnValue:
    """Exports of comments and the audit log, a submitter's data, the retention periods."""
    config = current_app.config
    return page(
        "admin/data.html",
        ip_days=config["RETENTION_IP_DAYS"],
        purge_days=config["RETENTION_PURGE_DAYS"],
    )


@bp.get("/export/comments")
@auth.admin_required
def export_comments() -> ResponseReturnValue:
    """Download the comments (of one article, since a day) as CSV or JSON Lines; audited."""
    fmt = exports.check_format(request.args.get("format", "csv"))
    chunks = exports.export_comments(
        fmt,
        text_filter(request.args.get("article"), 128),
        exports.parse_since(request.args.get("since")),
        by=current_user,
    )
    return download(chunks, exports.MEDIA_TYPES[fmt], exports.file_name("comments", fmt.value))


@bp.get("/export/audit")
@auth.admin_required
def export_audit() -> ResponseReturnValue:
    """Download the audit log (since a day) as CSV or JSON Lines; audited."""
    fmt = exports.check_format(request.args.get("format", "csv"))
    since = exports.parse_since(request.args.get("since"))
    chunks = exports.export_audit(fmt, since, by=current_user)
    return download(chunks, exports.MEDIA_TYPES[fmt], exports.file_name("audit", fmt.value))


def asked_submitter(values: dict[str, str]) -> submitters.Submitter:
    return submitters.check_submitter(values.get("identity"), values.get("ip"))


@bp.get("/submitter")
@auth.admin_required
def submitter() -> ResponseReturnValue:
    """What is held about one submitter (by portal identity or IP), to export or erase."""
    asked = request.args.get("identity") or request.args.get("ip")
    holding = submitters.find_holding(asked_submitter(request.args)) if asked else None
    return page("admin/submitter.html", holding=holding)


@bp.post("/submitter/export")
@auth.admin_required
def submitter_export() -> ResponseReturnValue:
    """Download everything held about the submitter as JSON; audited."""
    document = submitters.export_submitter(asked_submitter(request.form), current_user)
    body = json.dumps(document, ensure_ascii=False, indent=2)
    return download(iter([body]), "application/json", exports.file_name("submitter", "json"))


@bp.post("/submitter/erase")
@auth.admin_required
def submitter_erase() -> ResponseReturnValue:
    """Erase the submitter's comments for good (after a ticked confirmation); audited."""
    chosen = asked_submitter(request.form)
    if request.form.get("confirm") != "yes":
        raise BadRequest(gettext("Tick the box to confirm the erasure."))
    erasure = submitters.erase_submitter(chosen, current_user)
    flash(
        gettext(
            "Erased %(deleted)d comments; %(kept)d kept as empty shells because others reply"
            " to them.",
            deleted=erasure.deleted,
            kept=erasure.kept_as_shells,
        ),
        "success",
    )
    return redirect(url_for(".submitter", **{chosen.kind: chosen.value}), code=303)
