"""The moderator dashboard under /mod: sign-in, home, queues and the actions on comments."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from .. import articles, auth, moderation, stats
from ..errors import BadRequest, ServiceError, with_retry_after
from ..extensions import limiter
from ..forms import login_form, submitted_fields
from ..models import ModerationMode
from ..params import whole_number, whole_numbers
from ..queue import Queue, QueueFilter, list_queue, queue_counts
from ..security import SESSION_BLUEPRINTS
from ..settings import get_setting

bp = Blueprint("dashboard", __name__, url_prefix="/mod")


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def back(default: str = "dashboard.queue") -> Response:
    """Redirect to the page the form came from (only paths on this service)."""
    target = auth.safe_next(request.form.get("next")) or url_for(default)
    return redirect(target, code=303)


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(error: RateLimitExceeded) -> ResponseReturnValue:
    """Too many failed sign-ins (or password checks): the same answer whether the name exists."""
    if request.endpoint == "dashboard.change_password":
        message = gettext("Too many wrong passwords. Please wait a few minutes and try again.")
    else:
        message = gettext("Too many failed sign-ins. Please wait a few minutes and try again.")
    if wants_json():
        response = jsonify(error={"code": "rate_limited", "message": message})
        response.status_code = 429
    elif request.endpoint == "dashboard.change_password":
        response = Response(account_page(error=message), status=429)
    else:
        page = render_template("dashboard/login.html", form=login_form(), error=message)
        response = Response(page, status=429)
    return with_retry_after(response, error)


def _failed_login(response: Response) -> bool:
    return response.status_code == 401


def _login_name() -> str:
    """The user name as the sign-in form reads it (form or JSON), for the lockout keys."""
    if "login_name" not in g:
        fields = submitted_fields()
        g.login_name = ((fields.get("username") if fields else None) or "").strip().lower()[:64]
    return g.login_name


def _login_pair_key() -> str:
    return f"login-user:{_login_name()}@{get_remote_address()}"


def _login_account_key() -> str:
    return f"login-account:{_login_name()}"


def _signed_in_here_before() -> bool:
    return auth.known_address(_login_name(), request.remote_addr)


# Failed sign-ins are limited three ways (docs/security.md): per address for all
# names, per name and address (so strangers cannot lock a moderator out of their
# own address), and a ceiling per name that addresses the account used lately pass.
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN"],
    methods=["POST"],
    deduct_when=_failed_login,
    scope="login-ip",
)
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_USER"],
    key_func=_login_pair_key,
    methods=["POST"],
    deduct_when=_failed_login,
    scope="login-user",
)
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_ACCOUNT"],
    key_func=_login_account_key,
    methods=["POST"],
    deduct_when=_failed_login,
    exempt_when=_signed_in_here_before,
    scope="login-account",
)
def login() -> ResponseReturnValue:
    """Sign in with user name and password."""
    form = login_form()
    if form.validate_on_submit():
        moderator = auth.authenticate(
            form.username.data or "",
            form.password.data or "",
            user_agent=request.user_agent.string,
            remote_addr=request.remote_addr,
        )
        if moderator is not None:
            _start_fresh_session()
            login_user(moderator)
            next_page = auth.safe_next(request.args.get("next"))
            return redirect(next_page or url_for(".home"), code=303)
        error = gettext("Wrong user name or password.")
        return render_template("dashboard/login.html", form=form, error=error), 401
    return render_template("dashboard/login.html", form=form, error=None)


def _start_fresh_session() -> None:
    """Nothing from before a sign-in or sign-out survives in the cookie but the language.

    A new CSRF token comes with it: a token seen before signing in (by anyone
    who shared the browser or planted the cookie) is worthless after.
    """
    lang = session.get("lang")
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF's copy for this request
    if lang:
        session["lang"] = lang


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    """Sign out: this session ends on the server too, so a copied cookie stops working."""
    auth.end_session(current_user.session_key)
    _start_fresh_session()
    logout_user()
    return redirect(url_for(".login"), code=303)


def account_page(error: str | None = None) -> str:
    return render_template(
        "dashboard/account.html",
        sessions=auth.list_sessions(current_user),
        this_session=auth.session_id(current_user.session_key),
        live_tokens=sum(1 for t in auth.list_tokens(current_user) if t.revoked_at is None),
        error=error,
    )


@bp.get("/account")
@login_required
def account() -> ResponseReturnValue:
    """The signed-in moderator's password and sessions."""
    return account_page()


def _wrong_password(response: Response) -> bool:
    return response.status_code == auth.WrongPassword.status


@bp.post("/account/password")
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_USER"],
    key_func=lambda: f"password-check:{getattr(current_user, 'id', '')}",
    deduct_when=_wrong_password,
    scope="password-check",
)
@login_required
def change_password() -> ResponseReturnValue:
    """Change one's own password: this session stays, the others are signed out."""
    new = request.form.get("new_password", "")
    try:
        if new != request.form.get("new_password_again", ""):
            raise BadRequest(gettext("The two new passwords are not the same."))
        ended = auth.change_own_password(
            current_user,
            request.form.get("current_password", ""),
            new,
            keep=current_user.session_key,
            revoke_tokens=request.form.get("revoke_tokens") == "on",
        )
    except ServiceError as error:
        return account_page(error=str(error.message)), error.status
    flash(
        gettext(
            "Password changed. %(sessions)d other sessions signed out, %(tokens)d API tokens"
            " revoked.",
            sessions=ended.sessions,
            tokens=ended.tokens,
        ),
        "success",
    )
    return redirect(url_for(".account"), code=303)


@bp.post("/account/sessions/end")
@login_required
def end_other_sessions() -> ResponseReturnValue:
    """Sign out everywhere else."""
    ended = auth.end_other_sessions(current_user, keep=current_user.session_key)
    flash(gettext("%(count)d other sessions signed out.", count=ended), "success")
    return redirect(url_for(".account"), code=303)


@bp.app_context_processor
def dashboard_context() -> dict[str, object]:
    """The tab counts and the current tab, on every signed-in dashboard and admin page."""
    if request.blueprint not in SESSION_BLUEPRINTS or not current_user.is_authenticated:
        return {}
    tab = (request.view_args or {}).get("queue") if request.endpoint == "dashboard.queue" else None
    return {"counts": queue_counts(), "tab": tab if tab in set(Queue) else None}


@bp.get("/")
@login_required
def home() -> ResponseReturnValue:
    """Today's numbers and 30 days of comments by status."""
    return render_template("dashboard/home.html", stats=stats.dashboard())


@bp.get("/queue", defaults={"queue": "pending"})
@bp.get("/queue/<queue>")
@login_required
def queue(queue: str) -> ResponseReturnValue:
    """One queue of comments, filtered by article, IP or text."""
    try:
        chosen = Queue(queue)
    except ValueError:
        abort(404)
    return render_template(
        "dashboard/queue.html",
        page=list_queue(QueueFilter.from_args(chosen, request.args)),
        reject_reasons=get_setting("reject_reasons"),
        actions=moderation.Action,
    )


def parse_action(action: str) -> moderation.Action:
    try:
        return moderation.Action(action)
    except ValueError:
        abort(404)


def action_result(comment_ids: list[int], message: str, **extra: Any) -> ResponseReturnValue:
    if wants_json():
        counts = {q.value: n for q, n in queue_counts().items()}
        return jsonify(ids=comment_ids, message=message, counts=counts, **extra)
    flash(message, "success")
    return back()


@bp.post("/comments/<int:comment_id>/<action>")
@login_required
def act(comment_id: int, action: str) -> ResponseReturnValue:
    """Apply a moderation action to one comment."""
    chosen = parse_action(action)
    comment = moderation.apply(
        comment_id,
        chosen,
        by=current_user,
        reason=request.form.get("reason") or None,
        expected=moderation.check_expected(request.form.get("expected_status")),
    )
    message = gettext(
        "Comment #%(id)d: %(action)s.", id=comment.id, action=moderation.action_label(chosen)
    )
    return action_result([comment.id], message, status=str(comment.status))


@bp.post("/comments/bulk")
@login_required
def bulk() -> ResponseReturnValue:
    """Apply one action to the selected comments, or to everything from one IP."""
    chosen = parse_action(request.form.get("action", ""))
    ip = (request.form.get("ip") or "").strip()
    if ip:
        ids = moderation.ids_from_ip(ip)
    else:
        ids = whole_numbers(request.form.getlist("ids"))
    result = moderation.apply_many(
        ids, chosen, by=current_user, reason=request.form.get("reason") or None
    )
    message = gettext(
        "%(done)d comments: %(action)s; %(skipped)d skipped.",
        done=len(result.done),
        action=moderation.action_label(chosen),
        skipped=len(result.skipped),
    )
    return action_result(result.done, message, skipped=list(result.skipped))


@bp.post("/comments/<int:comment_id>/actor")
@login_required
def act_on_actor(comment_id: int) -> ResponseReturnValue:
    """Reject everything pending from this comment's IP (or /24) and ban it, with undo."""
    scope = "net" if request.form.get("scope") == "net" else "ip"
    days = whole_number(request.form.get("days") or "7", limit=100_000) or 0
    result = moderation.act_on_actor(comment_id, current_user, scope, days)
    message = gettext(
        "Rejected %(count)d pending comments and banned the sender for %(days)d days.",
        count=len(result.done),
        days=days,
    )
    if wants_json():
        return jsonify(ids=result.done, batch=result.batch, message=message)
    flash(message, "success")
    flash(result.batch or "", "undo")
    return back()


@bp.post("/batches/<batch>/undo")
@login_required
def undo(batch: str) -> ResponseReturnValue:
    """Undo a one-step action: comments back to pending, bans lifted."""
    result = moderation.undo_batch(batch[:32], current_user)
    message = gettext("Undone: %(count)d comments back to pending.", count=len(result.done))
    return action_result(result.done, message)


@bp.get("/articles/<key>")
@login_required
def article(key: str) -> ResponseReturnValue:
    """One article: its comments by status, open/closed and its moderation mode."""
    found = articles.find_article(articles.check_key(key))
    if found is None:
        abort(404)
    f = QueueFilter(article=key)
    return render_template(
        "dashboard/article.html",
        article=found,
        article_counts=queue_counts(f),
        modes=ModerationMode,
    )


@bp.post("/articles/<key>/settings")
@login_required
def article_settings(key: str) -> ResponseReturnValue:
    """Close or reopen comments on an article, or (admins) give it its own moderation mode."""
    closed = {"close": True, "reopen": False}.get(request.form.get("comments", ""))
    mode = request.form.get("mode")
    # Post-moderation publishes unseen comments: the README makes the mode an admin's call.
    if mode is not None and not current_user.is_admin:
        raise auth.Forbidden()
    articles.update_article(
        articles.check_key(key),
        closed=closed,
        mode=ModerationMode(mode) if mode in ("pre", "post") else None,
        clear_mode=mode == "site",
        by=current_user,
    )
    flash(gettext("Article settings saved."), "success")
    return redirect(url_for(".article", key=key), code=303)


@bp.post("/articles/<key>/details")
@login_required
def article_details(key: str) -> ResponseReturnValue:
    """Correct an article's title and link (readers' comments never change them)."""
    articles.update_details(
        key, request.form.get("title", ""), request.form.get("url", ""), by=current_user
    )
    flash(gettext("Article settings saved."), "success")
    return redirect(url_for(".article", key=key), code=303)


@bp.get("/tokens")
@login_required
def tokens() -> ResponseReturnValue:
    """The signed-in moderator's API tokens."""
    return render_template(
        "dashboard/tokens.html", tokens=auth.list_tokens(current_user), new_token=None
    )


@bp.post("/tokens")
@login_required
def create_token() -> ResponseReturnValue:
    """Create an API token; it is shown once, on this page only."""
    token = auth.create_token(current_user, request.form.get("name", ""))
    response = Response(
        render_template(
            "dashboard/tokens.html", tokens=auth.list_tokens(current_user), new_token=token
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> ResponseReturnValue:
    auth.revoke_token(token_id, current_user)
    flash(gettext("Token revoked."), "success")
    return redirect(url_for(".tokens"), code=303)


@bp.errorhandler(ServiceError)
def service_error(error: ServiceError) -> ResponseReturnValue:
    """Dashboard errors: JSON for the page's scripts, the dashboard's own page otherwise.

    A comment that moved on while the moderator looked at it goes back to the
    page they came from, with a message saying what happened.
    """
    if wants_json():
        return jsonify(error.as_dict()), error.status
    if isinstance(error, moderation.StatusChanged):
        flash(str(error.message), "error")
        return back()
    return render_template("dashboard/error.html", error=error), error.status


@bp.get("/lang/<code>")
def set_language(code: str) -> ResponseReturnValue:
    """Switch the dashboard's language (kept in the moderator's session)."""
    if code in ("zh-CN", "en"):
        session["lang"] = code
    return redirect(auth.safe_next(request.args.get("next")) or url_for(".home"), code=303)
