"""Command-line tools for operators: ``flask --app wsgi <command>``."""

from __future__ import annotations

import sys
from functools import wraps

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from . import auth, captcha, moderation
from .articles import ensure_article
from .errors import ServiceError
from .extensions import db
from .models import Comment, Status
from .templating import localtime

DEMO_COMMENTS = {
    "67584": [
        ("老读者", "政策解读很及时，希望后续能公布具体的办理流程。"),
        ("Li Wei", "关注中！请问新政策从哪天开始执行？👍"),
        ("网友", "写得清楚明白，点赞。"),
    ],
    "67590": [("张三", "这条路终于要修了，期待早日通车。")],
}


def read_password() -> str:
    """Twice at a terminal (hidden); one line from standard input when piped."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


def fail_on_service_error(func):  # type: ignore[no-untyped-def]
    """Turn a service's refusal into a clean CLI error (exit 1, message on stderr)."""

    @wraps(func)
    def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return func(*args, **kwargs)
        except ServiceError as error:
            raise click.ClickException(str(error.message)) from None

    return wrapped


@click.group("comments", cls=AppGroup)
def comments_group() -> None:
    """Inspect and moderate comments from the shell."""


@comments_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in Status]), default="pending")
@click.option("--limit", default=50, show_default=True)
def list_command(status: str, limit: int) -> None:
    """List comments with a status, oldest first: id, time (in TIMEZONE), article, author, text."""
    rows = db.session.execute(
        select(Comment).where(Comment.status == status).order_by(Comment.id).limit(limit)
    ).scalars()
    for comment in rows:
        when = localtime(comment.created_at)
        click.echo(
            f"{comment.id}\t{when}\t{comment.article.key}\t{comment.author}\t{comment.body[:60]!r}"
        )


@comments_group.command("moderate")
@fail_on_service_error
@click.argument("action", type=click.Choice([a.value for a in moderation.Action]))
@click.argument("comment_ids", nargs=-1, type=int, required=True)
def moderate_command(action: str, comment_ids: tuple[int, ...]) -> None:
    """Apply ACTION (approve, reject, spam) to comments by id."""
    for comment_id in comment_ids:
        comment = moderation.apply(comment_id, moderation.Action(action))
        click.echo(f"{comment.id}\t{comment.status}")


@click.command("purge-captchas")
@with_appcontext
def purge_captchas_command() -> None:
    """Delete spent captcha records whose tokens have expired anyway."""
    click.echo(f"purged {captcha.purge_spent()} spent captchas")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Add a few approved comments to the /demo articles (once)."""
    for key, entries in DEMO_COMMENTS.items():
        article = ensure_article(key)
        if article.approved_count:
            continue
        for author, body in entries:
            comment = Comment(
                article=article,
                author=author,
                body=body,
                status=Status.APPROVED,
                remote_addr="127.0.0.1",
            )
            db.session.add(comment)
            db.session.flush()
            moderation.admit(comment)
        db.session.commit()
    click.echo("demo comments ready")


@click.group("moderators", cls=AppGroup)
def moderators_group() -> None:
    """Manage moderator accounts."""


@moderators_group.command("add")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Also manages moderators, words and settings.")
@fail_on_service_error
def add_moderator_command(username: str, admin: bool) -> None:
    """Create a moderator account (password asked twice, or read from stdin)."""
    moderator = auth.add_moderator(username, read_password(), admin=admin)
    click.echo(f"added {moderator.username} ({moderator.role})")


@moderators_group.command("list")
def list_moderators_command() -> None:
    """List moderator accounts."""
    for moderator in auth.list_moderators():
        state = "active" if moderator.active else "disabled"
        click.echo(f"{moderator.username}\t{moderator.role}\t{state}")


@moderators_group.command("disable")
@click.argument("username")
@fail_on_service_error
def disable_moderator_command(username: str) -> None:
    """Disable an account (it can no longer sign in; its API tokens stop working)."""
    auth.set_active(username, False)
    click.echo(f"disabled {username}")


@moderators_group.command("enable")
@click.argument("username")
@fail_on_service_error
def enable_moderator_command(username: str) -> None:
    """Enable a disabled account again."""
    auth.set_active(username, True)
    click.echo(f"enabled {username}")


@moderators_group.command("set-password")
@click.argument("username")
@fail_on_service_error
def set_password_command(username: str) -> None:
    """Set a new password (asked twice, or read from stdin).

    Like an admin's reset, it signs the account out everywhere and revokes its API tokens.
    """
    ended = auth.set_password(username, read_password())
    click.echo(
        f"password changed for {username}; {ended.sessions} sessions signed out,"
        f" {ended.tokens} API tokens revoked"
    )


@moderators_group.command("token")
@click.argument("username")
@click.option("--name", default="CLI", show_default=True, help="What the token is for.")
@fail_on_service_error
def token_command(username: str, name: str) -> None:
    """Create an API token for the moderation API; it is printed once."""
    moderator = auth.find_moderator(username)
    if moderator is None or not moderator.active:
        raise click.ClickException(f"no active moderator {username!r}")
    click.echo(auth.create_token(moderator, name))


@click.command("secret-key")
@with_appcontext
def secret_key_command() -> None:
    """Print the secret key (made once in the instance folder when none is configured)."""
    click.echo(current_app.config["SECRET_KEY"])


def init_app(app: Flask) -> None:
    app.cli.add_command(secret_key_command)
    app.cli.add_command(moderators_group)
    app.cli.add_command(comments_group)
    app.cli.add_command(purge_captchas_command)
    app.cli.add_command(seed_demo_command)
