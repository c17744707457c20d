"""Command-line tools for operators: ``flask --app wsgi <command>``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from . import auth, captcha, exports, importers, moderation, retention, submitters
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


# --- import ------------------------------------------


@click.group("import", cls=AppGroup)
def import_group() -> None:
    """Import comments from Isso, Disqus or WordPress (a second run adds nothing)."""


def import_options(func):  # type: ignore[no-untyped-def]
    """The options every format takes."""
    options = [
        click.argument("path", type=click.Path(exists=True, dir_okay=False)),
        click.option(
            "--key-pattern",
            help="Regular expression with one group that finds the article key in a URL "
            "(default: the last path segment without extension).",
        ),
        click.option(
            "--base-url",
            help="Makes absolute article URLs of paths, e.g. https://www.portal.example.",
        ),
        click.option(
            "--source",
            help="A name for this source when importing more than one site of one format.",
        ),
        click.option("--batch-size", default=importers.base.DEFAULT_BATCH_SIZE, show_default=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def run_import_command(fmt: str, path: str, **options: Any) -> None:
    """Open, import with a progress bar, print the summary."""
    try:
        checked = importers.check_options(**options)
        source = importers.open_source(fmt, path)
    except ServiceError as error:
        raise click.ClickException(str(error.message)) from None
    started = time.perf_counter()

    def status(summary: importers.ImportSummary | None) -> str:
        if summary is None:
            return ""
        rate = summary.total / max(time.perf_counter() - started, 1e-6)
        skipped = sum(summary.skipped.values())
        return f"{summary.imported} imported, {skipped} skipped, {rate:,.0f}/s"

    with click.progressbar(
        length=source.total,
        label=f"{fmt}: {source.total} comments",
        show_pos=True,
        item_show_func=status,
    ) as bar:
        try:
            summary = importers.import_source(
                source, checked, progress=lambda count, summary: bar.update(count, summary)
            )
        except ServiceError as error:
            raise click.ClickException(str(error.message)) from None
    click.echo(
        f"Imported {summary.imported} of {summary.total} comments from {fmt} in "
        f"{summary.seconds:.1f} s ({summary.rate:,.0f} comments/s); "
        f"{summary.articles_created} articles created."
    )
    if summary.skipped:
        click.echo(f"Skipped {sum(summary.skipped.values())}:")
        for reason, count in summary.skipped.most_common():
            click.echo(f"  {count:>8}  {importers.REASONS.get(reason, reason)}")
    if summary.orphans:
        click.echo(
            f"Replies whose parent was missing, stored as thread starters: {summary.orphans}"
        )
    if summary.truncated:
        click.echo(f"Texts longer than 65536 characters, cut: {summary.truncated}")


@import_group.command("isso")
@import_options
def import_isso_command(path: str, **options: Any) -> None:
    """Import an Isso database (comments.db)."""
    run_import_command("isso", path, **options)


@import_group.command("disqus")
@import_options
def import_disqus_command(path: str, **options: Any) -> None:
    """Import a Disqus XML export."""
    run_import_command("disqus", path, **options)


@import_group.command("wordpress")
@import_options
def import_wordpress_command(path: str, **options: Any) -> None:
    """Import a WordPress export (WXR)."""
    run_import_command("wordpress", path, **options)


# --- export, retention and submitters' data -------------------------------------------------


def write_export(make_chunks: Callable[[], Iterable[str]], output: str) -> None:
    """UTF-8 bytes as written (CSV keeps its CRLF line ends), to a file or standard output.

    The file is opened before the export starts (and is audited), so a path that
    cannot be written costs nothing.
    """
    try:
        out = sys.stdout.buffer if output == "-" else open(output, "wb")
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror}") from None
    try:
        for chunk in make_chunks():
            out.write(chunk.encode("utf-8"))
        out.flush()
    finally:
        if out is not sys.stdout.buffer:
            out.close()


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in exports.Format]),
    default="jsonl",
    show_default=True,
)
@click.option("--article", help="Only this article's comments (its key).")
@click.option("--since", help="Only comments from this day (YYYY-MM-DD, in TIMEZONE) or time on.")
@click.option("--output", "-o", default="-", help="File to write (default: standard output).")
@fail_on_service_error
def export_command(fmt: str, article: str | None, since: str | None, output: str) -> None:
    """Export comments as JSON Lines or CSV (times in TIMEZONE); written to the audit log."""
    chosen, start = exports.Format(fmt), exports.parse_since(since)
    write_export(lambda: exports.export_comments(chosen, article, start), output)


@click.command("export-audit")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in exports.Format]),
    default="jsonl",
    show_default=True,
)
@click.option("--since", help="Only entries from this day (YYYY-MM-DD, in TIMEZONE) or time on.")
@click.option("--output", "-o", default="-", help="File to write (default: standard output).")
@fail_on_service_error
def export_audit_command(fmt: str, since: str | None, output: str) -> None:
    """Export the audit log as JSON Lines or CSV."""
    chosen, start = exports.Format(fmt), exports.parse_since(since)
    write_export(lambda: exports.export_audit(chosen, start), output)


@click.group("retention", cls=AppGroup)
def retention_group() -> None:
    """Truncate old addresses and purge old removed comments (RETENTION_* settings)."""


@retention_group.command("run")
def retention_run_command() -> None:
    """Apply the retention periods now (schedule it daily)."""
    try:
        result = retention.run_retention()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"addresses truncated: {result.truncated}, user agents dropped: {result.agents_dropped}, "
        f"comments purged: {result.purged}, kept as empty shells: {result.emptied}"
    )


@click.group("submitter", cls=AppGroup)
def submitter_group() -> None:
    """Export or erase everything held about one submitter."""


def submitter_options(func):  # type: ignore[no-untyped-def]
    func = click.option("--ip", help="An IP address (or a truncated network) as stored.")(func)
    return click.option("--identity", help="The portal identity (user id) of the submitter.")(func)


@submitter_group.command("export")
@submitter_options
@click.option("--output", "-o", default="-", help="File to write (default: standard output).")
@fail_on_service_error
def submitter_export_command(identity: str | None, ip: str | None, output: str) -> None:
    """Write everything held about a submitter as JSON; recorded in the audit log."""
    submitter = submitters.check_submitter(identity, ip)

    def document() -> list[str]:
        found = submitters.export_submitter(submitter, None)
        return [json.dumps(found, ensure_ascii=False, indent=2), "\n"]

    write_export(document, output)


@submitter_group.command("erase")
@submitter_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@fail_on_service_error
def submitter_erase_command(identity: str | None, ip: str | None, yes: bool) -> None:
    """Delete a submitter's comments for good; recorded in the audit log."""
    submitter = submitters.check_submitter(identity, ip)
    held = submitters.find_holding(submitter)
    if not yes:
        click.confirm(f"Erase {held.total} comments for good?", abort=True)
    erasure = submitters.erase_submitter(submitter, None)
    click.echo(
        f"erased {erasure.deleted} comments; {erasure.kept_as_shells} kept as empty shells "
        "because others reply to them"
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(secret_key_command)
    app.cli.add_command(moderators_group)
    app.cli.add_command(comments_group)
    app.cli.add_command(purge_captchas_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(import_group)
    app.cli.add_command(export_command)
    app.cli.add_command(export_audit_command)
    app.cli.add_command(retention_group)
    app.cli.add_command(submitter_group)
