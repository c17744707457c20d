"""Flask-WTF forms."""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from wtforms import HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length


class CommentForm(FlaskForm):
    """The widget's comment form. Rules live in service.comments, not here.

    No CSRF token: the widget is a cross-site iframe where cookies may be
    blocked, and the single-use captcha already ties a post to a page view.
    """

    class Meta:
        csrf = False

    author = StringField()
    body = TextAreaField()
    reply_to = HiddenField()
    captcha_token = HiddenField()
    captcha_answer = StringField()
    title = HiddenField()
    url = HiddenField()
    # The portal's signed identity, filled in by widget.js (never rendered back).
    identity = HiddenField()


def submitted_fields() -> MultiDict[str, str] | None:
    """What a form was sent, read the way Flask-WTF reads it: form fields or a JSON object.

    Unlike Flask-WTF, only a JSON object's text values count (a number, list or
    a body that is not an object reads as missing, never as a 500). The
    sign-in form and its lockout keys both read the user name from here.
    """
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    if request.form:
        return request.form
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            return ImmutableMultiDict({k: v for k, v in body.items() if isinstance(v, str)})
        return ImmutableMultiDict()
    return None


class LoginForm(FlaskForm):
    """Moderator sign-in; protected by the CSRF token like every dashboard form."""

    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])


def login_form() -> LoginForm:
    """The sign-in form, filled from what was submitted (if anything)."""
    return LoginForm(formdata=submitted_fields())
