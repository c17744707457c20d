"""The embedded widget: the iframe page readers see, its form, and the captcha."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_limiter.errors import RateLimitExceeded

from .. import antispam, captcha, comments, identity, likes, pagecache, reports, theme
from ..articles import check_key, clean_title, clean_url
from ..assets import file_response
from ..errors import (
    NotFound,
    RateLimited,
    ServiceError,
    ValidationFailed,
    error_response,
    with_retry_after,
)
from ..forms import CommentForm
from ..i18n import lang_code
from ..limits import (
    captcha_audio_limit,
    captcha_limit,
    free_attempt,
    like_limit,
    post_limit,
    report_limit,
)
from ..params import Sort, check_public_page, check_sort
from ..request_origin import check_same_origin

bp = Blueprint("widget", __name__)
T = TypeVar("T")
POSTED = ("1", "published")
REPORTED = ("1", "again")


def widget_key(article: str) -> str:
    """The article key; an invalid one is a 400 page that tells the portal's developer."""
    return check_key(article)


THEMES = ("light", "dark")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@bp.before_request
def refuse_other_sites() -> None:
    """Likes, reports and comments only from the widget's own pages (no CSRF).

    A comment also needs a solved captcha, but another site could solve one and
    have its visitors' browsers send it from their addresses: checked alike.
    """
    if request.method not in SAFE_METHODS:
        check_same_origin()


def frame_args() -> dict[str, str]:
    """How the portal asked the widget to look: language, theme, accent colour."""
    args = {"lang": lang_code()}
    if request.args.get("theme") in THEMES:
        args["theme"] = request.args["theme"]
    if theme.parse_hex(request.args.get("accent")):
        args["accent"] = request.args["accent"].lstrip("#")
    return args


@bp.context_processor
def widget_context() -> dict[str, object]:
    return {"frame_args": frame_args()}


def page_context(
    key: str, form: CommentForm, page: int = 1, sort: Sort = Sort.NEWEST
) -> dict[str, object]:
    required = current_app.config["REQUIRE_IDENTITY"]
    return {
        "key": key,
        "page": comments.list_threads(key, page, sort),
        "form": form,
        "reply_target": comments.find_reply_target(key, form.reply_to.data),
        "max_length": current_app.config["COMMENT_MAX_LENGTH"],
        "nickname_max_length": current_app.config["NICKNAME_MAX_LENGTH"],
        "state_args": {
            **frame_args(),
            "title": form.title.data or None,
            "url": form.url.data or None,
        },
        "sort": sort,
        "api_base": url_for("api.list_comments", article=key).rsplit("/", 1)[0],
        "script_text": script_text(),
        "require_identity": required,
        "login_href": identity.login_url(clean_url(form.url.data)) if required else None,
    }


@bp.get("/embed/<article>")
def show(article: str) -> ResponseReturnValue:
    """The widget page for one article: header, approved comments, the form."""
    key = widget_key(article)
    page = check_public_page(request.args.get("page"))
    sort = check_sort(request.args.get("sort"))
    # The page carries no captcha unless asked (no-JS readers): it stays cacheable.
    with_captcha = request.args.get("captcha") == "new"

    def render() -> str:
        form = CommentForm(
            formdata=None,
            data={
                "title": clean_title(request.args.get("title")) or "",
                "url": (request.args.get("url") or "")[:2048],
                "reply_to": request.args.get("reply_to", "")[:20],
            },
        )
        if with_captcha:
            form.captcha_token.data = captcha.new_challenge().token
        return render_template(
            "widget/embed.html",
            posted=request.args.get("posted") if request.args.get("posted") in POSTED else None,
            reported=(
                request.args.get("reported") if request.args.get("reported") in REPORTED else None
            ),
            **page_context(key, form, page, sort),
        )

    if with_captcha:
        response = Response(render(), mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response
    # The same page for every reader until the article changes: kept by this worker.
    response = pagecache.cached_response("widget", key, render, "text/html")
    # Shared caches (a CDN) keep it briefly; browsers ask again each time
    # (cheaply, with the ETag), so a reader sees an approval on reload.
    response.headers["Cache-Control"] = (
        f"public, max-age=0, s-maxage={current_app.config['PUBLIC_MAX_AGE']}"
    )
    return response.make_conditional(request)


@bp.post("/embed/<article>")
@post_limit
def post(article: str) -> ResponseReturnValue:
    """Plain form POST from the widget; redirect on success, the form again on error."""
    key = widget_key(article)
    form = CommentForm()
    try:
        posted_comment = comments.post_comment(
            comments.Submission.from_fields(
                key, form.data, request.remote_addr, request.headers.get("User-Agent")
            )
        )
    except ValidationFailed as error:
        free_attempt(error)
        return render_form_error(key, form, error, keep_captcha=not error.captcha_checked)
    except ServiceError as error:
        return render_form_error(key, form, error)
    posted = "published" if posted_comment.comment.is_public else "1"
    args = {"posted": posted, **frame_args(), "title": form.title.data, "url": form.url.data}
    target = url_for(".show", article=key, **{k: v for k, v in args.items() if v})
    return redirect(target + "#comment-form", code=303)


def render_form_error(
    key: str, form: CommentForm, error: ServiceError, keep_captcha: bool = False
) -> Response:
    """The widget again with what the reader typed, the messages and a captcha.

    The captcha is a new one unless the old one was never looked at (field
    errors): then the reader keeps the image and the answer they typed.
    """
    if not keep_captcha or not form.captcha_token.data:
        form.captcha_answer.data = ""
        form.captcha_token.data = captcha.new_challenge().token
    html = render_template(
        "widget/embed.html", error=error, posted=None, reported=None, **page_context(key, form)
    )
    response = Response(html, status=error.status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(RateLimitExceeded)
def rate_limited(error: RateLimitExceeded) -> ResponseReturnValue:
    """Too many posts: the form again with the reader's text kept (JSON elsewhere)."""
    article = (request.view_args or {}).get("article")
    if request.endpoint == "widget.post" and isinstance(article, str):
        try:
            key = check_key(article)
        except ServiceError:
            pass
        else:
            page = render_form_error(key, CommentForm(), RateLimited())
            return with_retry_after(page, error)
    return with_retry_after(error_response(RateLimited()), error)


@bp.get("/captcha")
@captcha_limit
def new_captcha() -> ResponseReturnValue:
    """A new challenge: its token and where to fetch its image and sound."""
    challenge = captcha.new_challenge()
    extra = {}
    # Under attack: a proof-of-work puzzle for the browser, bound to this token.
    pow_challenge = antispam.challenge_for(challenge.token)
    if pow_challenge is not None:
        extra["proof_of_work"] = pow_challenge
    response = jsonify(
        token=challenge.token,
        image=url_for(".captcha_image", token=challenge.token),
        audio=url_for(".captcha_audio", token=challenge.token),
        expires_in=current_app.config["CAPTCHA_TTL"],
        **extra,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _media(data: bytes, mimetype: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = f"private, max-age={current_app.config['CAPTCHA_TTL']}"
    return response


def _for_token(make: Callable[[str], T], token: str) -> T:
    """``make(token)``; a forged or expired token is a 404 that says which."""
    try:
        return make(token)
    except captcha.CaptchaError as exc:
        error = NotFound(exc.field_error.message)
        error.code = exc.field_error.code
        raise error from None


@bp.get("/captcha/<token>.png")
@captcha_limit
def captcha_image(token: str) -> ResponseReturnValue:
    """The challenge as a PNG image (the same token always gives the same image)."""
    return _media(_for_token(captcha.render_png, token), "image/png")


@bp.get("/captcha/<token>.wav")
@captcha_limit
@captcha_audio_limit
def captcha_audio(token: str) -> ResponseReturnValue:
    """The challenge spoken, for readers who cannot read the image (HEAD renders nothing)."""
    if request.method == "HEAD":
        # The GET's headers and length; the sound is never rendered.
        response = _media(b"", "audio/wav")
        response.content_length = _for_token(captcha.wav_size, token)
        return response
    return _media(_for_token(captcha.render_wav, token), "audio/wav")


@bp.get("/embed.js")
def embed_js() -> ResponseReturnValue:
    """The two-line embed's script: turns [data-comments] into the widget iframe."""
    return file_response("embed.js", max_age=300)


@bp.get("/embed/<article>/report/<int:comment_id>")
def report_form(article: str, comment_id: int) -> ResponseReturnValue:
    """Ask the reader why they report a comment (works without JavaScript)."""
    key = widget_key(article)
    comment = comments.find_public_comment(key, comment_id)
    return render_template(
        "widget/report.html",
        key=key,
        comment=comment,
        reasons=reports.report_reasons(),
        error=None,
    )


@bp.post("/embed/<article>/report/<int:comment_id>")
@report_limit
def report(article: str, comment_id: int) -> ResponseReturnValue:
    """Record a reader's report, once per reader per comment."""
    key = widget_key(article)
    new = reports.report_comment(
        key, comment_id, request.form.get("reason", ""), request.remote_addr
    )
    args = {"reported": "1" if new else "again", **frame_args()}
    return redirect(url_for(".show", article=key, **args) + f"#comment-{comment_id}", code=303)


@bp.get("/theme.css")
def theme_stylesheet() -> ResponseReturnValue:
    """The portal's accent colour (data-accent), adjusted to keep AA contrast."""
    css = theme.theme_css(request.args.get("accent"))
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def script_text() -> dict[str, str]:
    """The strings widget.js shows, in the widget's language."""
    return {
        "pending": gettext("Awaiting review"),
        "remove": gettext("Delete"),
        "removed": gettext("Your comment was deleted."),
        "notPending": gettext("This comment is no longer awaiting review."),
        "submitted": gettext("Comment submitted; it will appear after review."),
        "failed": gettext("Something went wrong. Please try again."),
        "captchaFailed": gettext("The captcha could not be loaded. Please try again."),
        "checking": gettext("Checking your browser…"),
        "nickname": current_app.config["DEFAULT_NICKNAME"],
    }


@bp.post("/embed/<article>/like/<int:comment_id>")
@like_limit
def like(article: str, comment_id: int) -> ResponseReturnValue:
    """赞 without JavaScript: count the like, then back to the comment."""
    key = widget_key(article)
    reader = likes.reader_from_cookie(request.cookies.get(likes.COOKIE))
    likes.like(key, comment_id, reader, request.remote_addr)
    return redirect(url_for(".show", article=key, **frame_args()) + f"#comment-{comment_id}", 303)
