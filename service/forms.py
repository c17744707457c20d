"""Flask-WTF forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
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


class LoginForm(FlaskForm):
    """Moderator sign-in; protected by the CSRF token like every dashboard form."""

    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])
