"""Command-line tools for operators: ``flask --app wsgi <command>``."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from . import captcha, moderation
from .articles import ensure_article
from .extensions import db
from .models import Comment, Status

DEMO_COMMENTS = {
    "67584": [
        ("老读者", "政策解读很及时，希望后续能公布具体的办理流程。"),
        ("Li Wei", "关注中！请问新政策从哪天开始执行？👍"),
        ("网友", "写得清楚明白，点赞。"),
    ],
    "67590": [("张三", "这条路终于要修了，期待早日通车。")],
}


@click.group("comments")
def comments_group() -> None:
    """Inspect and moderate comments from the shell."""


@comments_group.command("list")
@click.option("--status", type=click.Choice([s.value for s in Status]), default="pending")
@click.option("--limit", default=50, show_default=True)
def list_command(status: str, limit: int) -> None:
    """List comments with a status, oldest first."""
    rows = db.session.execute(
        select(Comment).where(Comment.status == status).order_by(Comment.id).limit(limit)
    ).scalars()
    for comment in rows:
        click.echo(f"{comment.id}\t{comment.article.key}\t{comment.author}\t{comment.body[:60]!r}")


@comments_group.command("moderate")
@click.argument("action", type=click.Choice([a.value for a in moderation.Action]))
@click.argument("comment_ids", nargs=-1, type=int, required=True)
def moderate_command(action: str, comment_ids: tuple[int, ...]) -> None:
    """Apply ACTION (approve, reject, spam) to comments by id."""
    for comment_id in comment_ids:
        comment = moderation.apply(comment_id, moderation.Action(action))
        click.echo(f"{comment.id}\t{comment.status}")


@click.command("purge-captchas")
def purge_captchas_command() -> None:
    """Delete spent captcha records whose tokens have expired anyway."""
    click.echo(f"purged {captcha.purge_spent()} spent captchas")


@click.command("seed-demo")
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


def init_app(app: Flask) -> None:
    app.cli.add_command(comments_group)
    app.cli.add_command(purge_captchas_command)
    app.cli.add_command(seed_demo_command)
