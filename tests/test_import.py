"""Importing Isso, Disqus and WordPress data: each format from a small real-format file,
run twice (the second run adds nothing), through the service and the CLI.

The Isso database is written by the real isso 0.14.0 package (see isso_venv.py);
the Disqus and WordPress files follow their exports element for element.
"""

from __future__ import annotations

import os
import pty
import re
import select as selectors
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from isso_venv import write_isso_db
from sqlalchemy import func, select

from service import importers
from service.extensions import db
from service.importers.base import ALREADY, BAD_KEY, NO_KEY, NOT_COMMENT, key_from_url
from service.importers.xmlfiles import html_to_text
from service.models import Article, AuditEntry, Comment, Status

ROOT = Path(__file__).resolve().parent.parent
PORTAL = "https://www.portal.example"
T0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


def ts(minutes: int) -> float:
    return T0.timestamp() + 60 * minutes


@pytest.fixture
def run(app: Flask, runner: FlaskCliRunner) -> Callable[..., Result]:
    def invoke(*args: str, input: str | None = None) -> Result:
        with app.app_context():
            return runner.invoke(args=list(args), input=input)

    return invoke


def comments_by_ref(app: Flask) -> dict[str, Comment]:
    with app.app_context():
        rows = db.session.execute(select(Comment).where(Comment.import_ref.is_not(None)))
        found = {c.import_ref: c for c in rows.scalars()}
        for comment in found.values():
            db.session.expunge(comment)
        return found


def article(app: Flask, key: str) -> Article:
    with app.app_context():
        found = db.session.execute(select(Article).where(Article.key == key)).scalar_one()
        db.session.expunge(found)
        return found


def count_comments(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(Comment.id))).scalar_one()


def approved_in(app: Flask, key: str) -> int:
    with app.app_context():
        return db.session.execute(
            select(func.count(Comment.id))
            .join(Article)
            .where(Article.key == key, Comment.status == Status.APPROVED)
            .where(Comment.deleted_at.is_(None))
        ).scalar_one()


# --- article keys from URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("/zcjh/zhengwu/67584.html", "67584"),
        ("https://www.portal.example/zcjh/zhengwu/67584.html?from=home#comments", "67584"),
        ("http://example.tld/2014/test/", "test"),
        ("/news/2024/a.b.html", "a.b"),
        ("/", None),
        ("http://example.tld/?p=4", None),
        ("", None),
    ],
)
def test_the_key_is_the_last_path_segment_without_extension(url, key):
    assert key_from_url(url) == key


def test_a_key_pattern_takes_its_group_from_the_whole_url():
    pattern = re.compile(r"[?&]p=(\d+)")

    assert key_from_url("http://example.tld/?p=4", pattern) == "4"
    assert key_from_url("http://example.tld/about/", pattern) is None


@pytest.mark.parametrize(
    "pattern", ["(unclosed", "no-group", "(two)(groups)"], ids=["invalid", "none", "two"]
)
def test_a_key_pattern_needs_exactly_one_group(ctx, pattern):
    with pytest.raises(importers.ImportFailed):
        importers.check_options(key_pattern=pattern)


def test_comment_html_becomes_plain_text_with_its_links():
    html = (
        '<p>第一段 &amp; more</p><p>见 <a href="https://www.portal.example/a/1.html" '
        'rel="nofollow">portal.example/a/1...</a><br>下一行</p><script>x()</script>'
    )

    assert html_to_text(html) == (
        "第一段 & more\n\n见 portal.example/a/1... (https://www.portal.example/a/1.html)\n下一行"
    )


# --- Isso -----------------------------------------------------------------------------------------

ISSO_SPEC: dict[str, Any] = {
    "threads": [
        {"uri": "/zcjh/zhengwu/67584.html", "title": "关于进一步优化政务服务的实施意见"},
        {"uri": "/xwzx/67590.html", "title": "城南道路改造工程开工"},
        {"uri": "/专题/两会.html", "title": "两会专题"},
        {"uri": "/", "title": "首页"},
    ],
    "comments": [
        {
            "name": "first",
            "uri": "/zcjh/zhengwu/67584.html",
            "text": "政策解读很及时 👍\n\n希望公布办理流程。",
            "author": "老读者",
            "email": "reader@example.com",
            "ip": "203.0.113.7",
            "created": ts(0),
        },
        {
            "name": "reply",
            "uri": "/zcjh/zhengwu/67584.html",
            "text": "同意楼上",
            "author": "张三",
            "ip": "198.51.100.20",
            "created": ts(5),
            "parent": "first",
        },
        {
            "name": "reply-to-reply",
            "uri": "/zcjh/zhengwu/67584.html",
            "text": "isso 把回复的回复挂到楼主下",
            "author": None,
            "ip": "2001:db8:1:2::9",
            "created": ts(9),
            "parent": "reply",
        },
        {
            "name": "waiting",
            "uri": "/zcjh/zhengwu/67584.html",
            "text": "还在审核中的评论",
            "author": "李四",
            "mode": 2,
            "ip": "203.0.113.8",
            "created": ts(20),
        },
        {
            "name": "gone",
            "uri": "/xwzx/67590.html",
            "text": "后来被删除的评论",
            "author": "王五",
            "ip": "192.0.2.1",
            "created": ts(30),
        },
        {
            "name": "answer-to-gone",
            "uri": "/xwzx/67590.html",
            "text": "回复一条已删除的评论",
            "author": "赵六",
            "ip": "192.0.2.2",
            "created": ts(31),
            "parent": "gone",
        },
        {
            "name": "chinese-key",
            "uri": "/专题/两会.html",
            "text": "键不合规的文章",
            "ip": "192.0.2.3",
            "created": ts(40),
        },
        {"name": "home", "uri": "/", "text": "首页评论", "ip": "192.0.2.4", "created": ts(41)},
    ],
    "ops": [
        ["delete", "gone"],  # has a reply: isso keeps it emptied, mode 4
        ["vote", "first", "192.0.2.50"],
        ["vote", "first", "198.51.100.51"],  # isso counts one vote per /24
    ],
}


@pytest.fixture(scope="module")
def isso_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("isso") / "comments.db"
    return path, write_isso_db(path, ISSO_SPEC)


def test_isso_import_keeps_threads_times_statuses_and_addresses(app, ctx, isso_db):
    path, ids = isso_db

    summary = importers.import_file("isso", path, base_url=PORTAL)

    assert summary.imported == 6
    assert summary.skipped == {BAD_KEY: 1, NO_KEY: 1}
    assert summary.articles_created == 2
    stored = comments_by_ref(app)
    first, reply, nested = (stored[f"isso:{ids[n]}"] for n in ("first", "reply", "reply-to-reply"))
    assert (first.author, first.body) == ("老读者", "政策解读很及时 👍\n\n希望公布办理流程。")
    assert first.created_at == T0
    assert first.status == Status.APPROVED and first.deleted_at is None
    assert first.likes == 2
    assert first.remote_addr == "203.0.113.0/24"  # isso keeps /24 only; so do we
    assert (reply.parent_id, reply.root_id) == (first.id, first.id)
    assert (nested.parent_id, nested.root_id) == (first.id, first.id)  # isso nests one level
    assert nested.author == "网友"  # no name in isso: the default nickname
    assert nested.remote_addr == "2001:db8:1::/48"
    waiting = stored[f"isso:{ids['waiting']}"]
    assert waiting.status == Status.PENDING
    gone, answer = stored[f"isso:{ids['gone']}"], stored[f"isso:{ids['answer-to-gone']}"]
    assert gone.deleted_at is not None and gone.body == ""
    assert gone.status == Status.REJECTED  # restoring it never publishes it by accident
    assert answer.parent_id == gone.id and answer.status == Status.APPROVED
    imported = article(app, "67584")
    assert imported.url == f"{PORTAL}/zcjh/zhengwu/67584.html"
    assert imported.title == "关于进一步优化政务服务的实施意见"
    assert imported.approved_count == approved_in(app, "67584") == 3
    assert article(app, "67590").approved_count == 1


def test_imported_comments_show_in_the_widget_and_the_api(app, client, ctx, isso_db):
    importers.import_file("isso", isso_db[0], base_url=PORTAL)

    page = client.get("/api/v1/articles/67584/comments").get_json()
    counts = client.get("/api/v1/counts?article=67584&article=67590").get_json()

    bodies = [c["body"] for c in page["comments"]]
    bodies += [r["body"] for c in page["comments"] for r in c.get("replies", [])]
    assert "政策解读很及时 👍\n\n希望公布办理流程。" in bodies
    assert "同意楼上" in bodies
    assert "还在审核中的评论" not in bodies
    assert counts["counts"] == {"67584": 3, "67590": 1}
    assert "同意楼上" in client.get("/embed/67584").get_data(as_text=True)


def test_isso_import_twice_adds_nothing(app, ctx, isso_db):
    importers.import_file("isso", isso_db[0], base_url=PORTAL)
    before = count_comments(app)

    again = importers.import_file("isso", isso_db[0], base_url=PORTAL)

    assert again.imported == 0
    assert again.skipped[ALREADY] == 6
    assert count_comments(app) == before == 6
    assert article(app, "67584").approved_count == 3


def test_an_interrupted_import_is_finished_by_running_it_again(app, ctx, isso_db):
    """Each batch commits: a run cut short keeps what it stored; the next adds the rest."""
    source = importers.open_source("isso", isso_db[0])
    records = list(source.reader.records())
    options = importers.check_options(batch_size=2)
    importers.base.run_import("isso", records[:3], options)

    summary = importers.import_file("isso", isso_db[0], batch_size=2)

    assert summary.imported == 3 and summary.skipped[ALREADY] == 3
    stored = comments_by_ref(app)
    assert len(stored) == 6
    first = stored[f"isso:{isso_db[1]['first']}"]
    assert stored[f"isso:{isso_db[1]['reply-to-reply']}"].root_id == first.id


def test_a_key_pattern_and_a_source_name_change_what_is_imported(app, ctx, isso_db):
    summary = importers.import_file("isso", isso_db[0], key_pattern=r"/(\d+)\.html$", source="old")

    assert summary.imported == 6
    assert all(ref.startswith("isso:old:") for ref in comments_by_ref(app))
    assert article(app, "67584").url is None  # isso keeps paths: no --base-url, no URL


def test_a_file_that_is_no_isso_database_is_refused(ctx, tmp_path):
    other = tmp_path / "other.db"
    other.write_bytes(b"not a database at all" * 100)

    with pytest.raises(importers.ImportFailed):
        importers.open_source("isso", other)


def test_the_import_is_audited_once_per_run(app, ctx, isso_db):
    importers.import_file("isso", isso_db[0])

    with app.app_context():
        entries = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "import")
        ).scalars()
        details = [e.detail for e in entries]
    assert len(details) == 1
    assert '"imported": 6' in details[0] and "comments.db" in details[0]


def test_cli_imports_isso_twice_with_a_summary(run, isso_db, app):
    path = str(isso_db[0])

    first = run("import", "isso", path, "--base-url", PORTAL)
    second = run("import", "isso", path, "--base-url", PORTAL)

    assert first.exit_code == 0, first.output
    assert "Imported 6 of 8 comments from isso" in first.output
    assert "article key not valid" in first.output and "no article key in the URL" in first.output
    assert second.exit_code == 0, second.output
    assert "Imported 0 of 8 comments" in second.output
    assert "already imported (an earlier run)" in second.output
    assert count_comments(app) == 6


def test_cli_refuses_a_bad_key_pattern_cleanly(run, isso_db):
    result = run("import", "isso", str(isso_db[0]), "--key-pattern", "no-group")

    assert result.exit_code == 1
    assert "exactly one group" in result.output
    assert "Traceback" not in result.output


def test_cli_shows_a_progress_bar_with_counts_and_rate_on_a_terminal(app, database_url, isso_db):
    """Run ``flask import isso`` as an operator would, under a pseudo-terminal.

    (``app`` is there for its clean-up: on PostgreSQL it empties the tables after.)
    """
    env = {
        **os.environ,
        "COMMENTS_DATABASE_URL": database_url,
        "COMMENTS_SECRET_KEY": "test-secret-key-not-for-production",
        "COMMENTS_LOG_LEVEL": "WARNING",
        "COLUMNS": "160",
    }
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "import", "isso", str(isso_db[0])],
        cwd=ROOT,
        env=env,
        stdin=child,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    output = b""
    while True:
        ready, _, _ = selectors.select([main], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            data = os.read(main, 4096)
        except OSError:  # the terminal closed: the command is done
            break
        if not data:
            break
        output += data
    process.wait(timeout=60)
    os.close(main)
    text = output.decode("utf-8", "replace")

    assert process.returncode == 0, text
    assert re.search(r"isso: 8 comments\s+\[-+\]\s+0/8", text)  # the bar, empty at first
    assert re.search(r"isso: 8 comments\s+\[#+\]\s+8/8\s+6 imported, 2 skipped, [\d,]+/s", text)
    assert "Imported 6 of 8 comments from isso" in text
    assert count_comments(app) == 6


# --- Disqus ---------------------------------------------------------------------------------------

DISQUS = """<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com"
        xmlns:dsq="http://disqus.com/disqus-internals"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xsi:schemaLocation="http://disqus.com/api/schemas/1.0/disqus.xsd
                            http://disqus.com/api/schemas/1.0/internals.xsd">
  <category dsq:id="9001">
    <forum>portal</forum>
    <title>General</title>
    <isDefault>true</isDefault>
  </category>
  <thread dsq:id="7001">
    <id>67584</id>
    <forum>portal</forum>
    <category dsq:id="9001"/>
    <link>https://www.portal.example/zcjh/zhengwu/67584.html</link>
    <title>关于进一步优化政务服务的实施意见</title>
    <message/>
    <createdAt>2023-05-01T02:00:00Z</createdAt>
    <author><name>编辑部</name><isAnonymous>false</isAnonymous><username>portal</username></author>
    <ipAddress>10.0.0.1</ipAddress>
    <isClosed>false</isClosed>
    <isDeleted>false</isDeleted>
  </thread>
  <thread dsq:id="7002">
    <id/>
    <forum>portal</forum>
    <category dsq:id="9001"/>
    <link>https://www.portal.example/xwzx/67590.html</link>
    <title>城南道路改造工程开工</title>
    <message/>
    <createdAt>2023-05-02T02:00:00Z</createdAt>
    <author><name>编辑部</name><isAnonymous>false</isAnonymous></author>
    <isClosed>true</isClosed>
    <isDeleted>false</isDeleted>
  </thread>
  <!-- a reply listed before the comment it answers -->
  <post dsq:id="5002">
    <id/>
    <message><![CDATA[<p>同意！见 <a href="https://www.portal.example/a.html">这里</a></p>]]></message>
    <createdAt>2023-05-01T03:05:00Z</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>false</isSpam>
    <author><email>b@example.com</email><name>张三</name><isAnonymous>true</isAnonymous></author>
    <ipAddress>198.51.100.20</ipAddress>
    <thread dsq:id="7001"/>
    <parent dsq:id="5001"/>
  </post>
  <post dsq:id="5001">
    <id/>
    <message><![CDATA[<p>政策解读很及时。</p><p>希望公布办理流程 &amp; 时间。</p>]]></message>
    <createdAt>2023-05-01T03:00:00Z</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>false</isSpam>
    <author><email>a@example.com</email><name>老读者</name><isAnonymous>false</isAnonymous>
      <username>laoduzhe</username></author>
    <ipAddress>203.0.113.7</ipAddress>
    <thread dsq:id="7001"/>
  </post>
  <post dsq:id="5003">
    <id/>
    <message><![CDATA[<p>便宜发票 代开</p>]]></message>
    <createdAt>2023-05-01T04:00:00Z</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>true</isSpam>
    <author><name>spammer</name><isAnonymous>true</isAnonymous></author>
    <ipAddress>192.0.2.66</ipAddress>
    <thread dsq:id="7001"/>
  </post>
  <post dsq:id="5004">
    <id/>
    <message/>
    <createdAt>2023-05-02T05:00:00Z</createdAt>
    <isDeleted>true</isDeleted>
    <isSpam>false</isSpam>
    <author><name>王五</name><isAnonymous>true</isAnonymous></author>
    <ipAddress>2001:db8::5</ipAddress>
    <thread dsq:id="7002"/>
  </post>
  <post dsq:id="5005">
    <id/>
    <message><![CDATA[<p>回复一条已删除的评论</p>]]></message>
    <createdAt>2023-05-02T05:10:00Z</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>false</isSpam>
    <author><name>赵六</name><isAnonymous>true</isAnonymous></author>
    <ipAddress>192.0.2.2</ipAddress>
    <thread dsq:id="7002"/>
    <parent dsq:id="5004"/>
  </post>
  <!-- its thread is no longer in the export -->
  <post dsq:id="5006">
    <id/>
    <message>orphan</message>
    <createdAt>2023-05-03T05:10:00Z</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>false</isSpam>
    <author><name>where am I?</name><isAnonymous>true</isAnonymous></author>
    <ipAddress>127.0.0.1</ipAddress>
    <thread dsq:id="1337"/>
  </post>
  <!-- a reply to a comment the export does not hold -->
  <post dsq:id="5007">
    <id/>
    <message><![CDATA[<p>楼上说得对</p>]]></message>
    <createdAt>2023-05-03T06:00:00Z</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>false</isSpam>
    <author><name>孙七</name><isAnonymous>true</isAnonymous></author>
    <ipAddress>::ffff:192.0.2.9</ipAddress>
    <thread dsq:id="7001"/>
    <parent dsq:id="4999"/>
  </post>
</disqus>
"""


@pytest.fixture
def disqus_file(tmp_path: Path) -> Path:
    path = tmp_path / "portal-2023-05-04T00:00:00-all.xml"
    path.write_text(DISQUS, encoding="utf-8")
    return path


def test_disqus_import_keeps_replies_in_any_order_statuses_and_threads(app, ctx, disqus_file):
    summary = importers.import_file("disqus", disqus_file)

    assert summary.imported == 6
    assert summary.skipped == {NO_KEY: 1}
    assert summary.orphans == 1
    stored = comments_by_ref(app)
    first, reply = stored["disqus:5001"], stored["disqus:5002"]
    assert first.body == "政策解读很及时。\n\n希望公布办理流程 & 时间。"
    assert reply.body == "同意！见 这里 (https://www.portal.example/a.html)"
    assert (reply.parent_id, reply.root_id) == (first.id, first.id)
    assert first.created_at == datetime(2023, 5, 1, 3, 0, tzinfo=UTC)
    assert first.remote_addr == "203.0.113.7"  # a full address, until retention cuts it
    assert stored["disqus:5003"].status == Status.SPAM
    deleted, answer = stored["disqus:5004"], stored["disqus:5005"]
    assert deleted.deleted_at is not None and deleted.status == Status.REJECTED
    assert answer.parent_id == deleted.id
    orphan = stored["disqus:5007"]
    assert orphan.parent_id is None and orphan.root_id is None
    assert orphan.remote_addr == "192.0.2.9"  # IPv4-mapped IPv6 read as IPv4
    assert article(app, "67584").url == "https://www.portal.example/zcjh/zhengwu/67584.html"
    assert article(app, "67584").approved_count == 3
    assert article(app, "67590").closed is True


def test_disqus_import_twice_adds_nothing(app, ctx, disqus_file):
    importers.import_file("disqus", disqus_file)

    again = importers.import_file("disqus", disqus_file)

    assert again.imported == 0
    assert again.skipped == {ALREADY: 6, NO_KEY: 1}
    assert count_comments(app) == 6
    assert article(app, "67584").approved_count == 3


def test_cli_imports_disqus_twice(run, disqus_file, app):
    first = run("import", "disqus", str(disqus_file))
    second = run("import", "disqus", str(disqus_file))

    assert first.exit_code == 0 and "Imported 6 of 7 comments from disqus" in first.output
    assert "stored as thread starters: 1" in first.output
    assert second.exit_code == 0 and "Imported 0 of 7 comments" in second.output
    assert count_comments(app) == 6


def test_a_wordpress_file_is_not_taken_for_a_disqus_export(ctx, tmp_path):
    path = tmp_path / "wp.xml"
    path.write_text(WORDPRESS, encoding="utf-8")

    with pytest.raises(importers.ImportFailed, match="not a Disqus export"):
        importers.open_source("disqus", path)


@pytest.mark.parametrize(
    "content",
    [
        "<disqus xmlns='http://disqus.com'><post>",
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<disqus xmlns='http://disqus.com'>&b;</disqus>",
    ],
    ids=["truncated", "entities"],
)
def test_broken_or_hostile_xml_is_refused_with_a_message(ctx, tmp_path, content):
    path = tmp_path / "bad.xml"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(importers.ImportFailed):
        importers.open_source("disqus", path)


# --- WordPress ------------------------------------------------------------------------------------

WORDPRESS = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0"
     xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:wfw="http://wellformedweb.org/CommentAPI/"
     xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>政务门户</title>
  <link>https://www.portal.example</link>
  <wp:wxr_version>1.2</wp:wxr_version>
  <wp:base_site_url>https://www.portal.example</wp:base_site_url>
  <wp:base_blog_url>https://www.portal.example</wp:base_blog_url>
  <item>
    <title>关于进一步优化政务服务的实施意见</title>
    <link>https://www.portal.example/zcjh/zhengwu/67584.html</link>
    <pubDate>Mon, 01 May 2023 02:00:00 +0000</pubDate>
    <dc:creator><![CDATA[editor]]></dc:creator>
    <content:encoded><![CDATA[<p>正文</p>]]></content:encoded>
    <wp:post_id>67584</wp:post_id>
    <wp:post_date><![CDATA[2023-05-01 10:00:00]]></wp:post_date>
    <wp:post_date_gmt><![CDATA[2023-05-01 02:00:00]]></wp:post_date_gmt>
    <wp:comment_status><![CDATA[open]]></wp:comment_status>
    <wp:post_name><![CDATA[67584]]></wp:post_name>
    <wp:status><![CDATA[publish]]></wp:status>
    <wp:post_type><![CDATA[post]]></wp:post_type>
    <wp:comment>
      <wp:comment_id>11</wp:comment_id>
      <wp:comment_author><![CDATA[老读者]]></wp:comment_author>
      <wp:comment_author_email><![CDATA[a@example.com]]></wp:comment_author_email>
      <wp:comment_author_url>https://blog.example</wp:comment_author_url>
      <wp:comment_author_IP><![CDATA[203.0.113.7]]></wp:comment_author_IP>
      <wp:comment_date><![CDATA[2023-05-01 11:00:00]]></wp:comment_date>
      <wp:comment_date_gmt><![CDATA[2023-05-01 03:00:00]]></wp:comment_date_gmt>
      <wp:comment_content><![CDATA[政策解读很及时。
希望公布办理流程 &lt;尽快&gt;。]]></wp:comment_content>
      <wp:comment_approved><![CDATA[1]]></wp:comment_approved>
      <wp:comment_type><![CDATA[comment]]></wp:comment_type>
      <wp:comment_parent>0</wp:comment_parent>
      <wp:comment_user_id>0</wp:comment_user_id>
    </wp:comment>
    <wp:comment>
      <wp:comment_id>12</wp:comment_id>
      <wp:comment_author><![CDATA[张三]]></wp:comment_author>
      <wp:comment_author_email><![CDATA[]]></wp:comment_author_email>
      <wp:comment_author_url></wp:comment_author_url>
      <wp:comment_author_IP><![CDATA[2001:db8:1:2::9]]></wp:comment_author_IP>
      <wp:comment_date><![CDATA[2023-05-01 11:05:00]]></wp:comment_date>
      <wp:comment_date_gmt><![CDATA[0000-00-00 00:00:00]]></wp:comment_date_gmt>
      <wp:comment_content><![CDATA[同意楼上]]></wp:comment_content>
      <wp:comment_approved><![CDATA[1]]></wp:comment_approved>
      <wp:comment_type><![CDATA[]]></wp:comment_type>
      <wp:comment_parent>11</wp:comment_parent>
      <wp:comment_user_id>0</wp:comment_user_id>
    </wp:comment>
    <wp:comment>
      <wp:comment_id>13</wp:comment_id>
      <wp:comment_author><![CDATA[李四]]></wp:comment_author>
      <wp:comment_author_IP><![CDATA[203.0.113.8]]></wp:comment_author_IP>
      <wp:comment_date_gmt><![CDATA[2023-05-01 03:10:00]]></wp:comment_date_gmt>
      <wp:comment_content><![CDATA[回复的回复]]></wp:comment_content>
      <wp:comment_approved><![CDATA[0]]></wp:comment_approved>
      <wp:comment_type><![CDATA[comment]]></wp:comment_type>
      <wp:comment_parent>12</wp:comment_parent>
    </wp:comment>
    <wp:comment>
      <wp:comment_id>14</wp:comment_id>
      <wp:comment_author><![CDATA[Some Blog]]></wp:comment_author>
      <wp:comment_author_IP><![CDATA[192.0.2.10]]></wp:comment_author_IP>
      <wp:comment_date_gmt><![CDATA[2023-05-02 03:10:00]]></wp:comment_date_gmt>
      <wp:comment_content><![CDATA[[&#8230;] linked to this post [&#8230;]]]></wp:comment_content>
      <wp:comment_approved><![CDATA[1]]></wp:comment_approved>
      <wp:comment_type><![CDATA[pingback]]></wp:comment_type>
      <wp:comment_parent>0</wp:comment_parent>
    </wp:comment>
    <wp:comment>
      <wp:comment_id>15</wp:comment_id>
      <wp:comment_author><![CDATA[spammer]]></wp:comment_author>
      <wp:comment_author_IP><![CDATA[192.0.2.66]]></wp:comment_author_IP>
      <wp:comment_date_gmt><![CDATA[2023-05-02 04:00:00]]></wp:comment_date_gmt>
      <wp:comment_content><![CDATA[<a href="https://spam.example">便宜发票</a>]]></wp:comment_content>
      <wp:comment_approved><![CDATA[spam]]></wp:comment_approved>
      <wp:comment_type><![CDATA[comment]]></wp:comment_type>
      <wp:comment_parent>0</wp:comment_parent>
    </wp:comment>
    <wp:comment>
      <wp:comment_id>16</wp:comment_id>
      <wp:comment_author><![CDATA[王五]]></wp:comment_author>
      <wp:comment_author_IP><![CDATA[192.0.2.1]]></wp:comment_author_IP>
      <wp:comment_date_gmt><![CDATA[2023-05-02 05:00:00]]></wp:comment_date_gmt>
      <wp:comment_content><![CDATA[进了回收站的评论]]></wp:comment_content>
      <wp:comment_approved><![CDATA[trash]]></wp:comment_approved>
      <wp:comment_type><![CDATA[comment]]></wp:comment_type>
      <wp:comment_parent>0</wp:comment_parent>
    </wp:comment>
  </item>
  <item>
    <title>关于我们</title>
    <link>https://www.portal.example/?page_id=2</link>
    <wp:post_id>2</wp:post_id>
    <wp:comment_status><![CDATA[closed]]></wp:comment_status>
    <wp:post_type><![CDATA[page]]></wp:post_type>
    <wp:comment>
      <wp:comment_id>21</wp:comment_id>
      <wp:comment_author><![CDATA[读者]]></wp:comment_author>
      <wp:comment_author_IP><![CDATA[192.0.2.20]]></wp:comment_author_IP>
      <wp:comment_date_gmt><![CDATA[2023-06-01 00:00:00]]></wp:comment_date_gmt>
      <wp:comment_content><![CDATA[页面上的评论]]></wp:comment_content>
      <wp:comment_approved><![CDATA[1]]></wp:comment_approved>
      <wp:comment_type><![CDATA[comment]]></wp:comment_type>
      <wp:comment_parent>0</wp:comment_parent>
    </wp:comment>
  </item>
  <item>
    <title>没有评论的文章</title>
    <link>https://www.portal.example/xwzx/67590.html</link>
    <wp:post_id>67590</wp:post_id>
  </item>
</channel>
</rss>
"""


@pytest.fixture
def wordpress_file(tmp_path: Path) -> Path:
    path = tmp_path / "portal.WordPress.2023-06-02.xml"
    path.write_text(WORDPRESS, encoding="utf-8")
    return path


def test_wordpress_import_keeps_replies_statuses_and_skips_pingbacks(app, ctx, wordpress_file):
    summary = importers.import_file("wordpress", wordpress_file)

    assert summary.imported == 5
    assert summary.skipped == {NOT_COMMENT: 1, NO_KEY: 1}
    stored = comments_by_ref(app)
    first, reply, nested = (stored[f"wordpress:{n}"] for n in (11, 12, 13))
    assert first.body == "政策解读很及时。\n希望公布办理流程 <尽快>。"
    assert first.created_at == datetime(2023, 5, 1, 3, 0, tzinfo=UTC)
    # No GMT time: the local time read in TIMEZONE (Asia/Shanghai, UTC+8).
    assert reply.created_at == datetime(2023, 5, 1, 3, 5, tzinfo=UTC)
    assert (reply.parent_id, reply.root_id) == (first.id, first.id)
    assert (nested.parent_id, nested.root_id) == (reply.id, first.id)
    assert nested.status == Status.PENDING
    assert reply.remote_addr == "2001:db8:1:2::9"
    assert stored["wordpress:15"].status == Status.SPAM
    assert stored["wordpress:15"].body == "便宜发票 (https://spam.example)"
    trashed = stored["wordpress:16"]
    assert trashed.deleted_at is not None and trashed.status == Status.REJECTED
    assert article(app, "67584").approved_count == 2
    assert article(app, "67584").title == "关于进一步优化政务服务的实施意见"


def test_wordpress_import_twice_adds_nothing(app, ctx, wordpress_file):
    importers.import_file("wordpress", wordpress_file)

    again = importers.import_file("wordpress", wordpress_file)

    assert again.imported == 0
    assert again.skipped == {ALREADY: 5, NOT_COMMENT: 1, NO_KEY: 1}
    assert count_comments(app) == 5


def test_a_key_pattern_reaches_pages_with_query_string_links(app, ctx, wordpress_file):
    summary = importers.import_file(
        "wordpress", wordpress_file, key_pattern=r"(?:page_id=|/)(\w+)(?:\.html)?$"
    )

    assert summary.imported == 6
    assert article(app, "2").closed is True  # closed in WordPress: closed here
    assert article(app, "67584").approved_count == 2


def test_cli_imports_wordpress_twice(run, wordpress_file, app):
    first = run("import", "wordpress", str(wordpress_file))
    second = run("import", "wordpress", str(wordpress_file))

    assert first.exit_code == 0 and "Imported 5 of 7 comments from wordpress" in first.output
    assert "pingback, trackback or other non-comment" in first.output
    assert second.exit_code == 0 and "Imported 0 of 7 comments" in second.output
    assert count_comments(app) == 5


def test_an_existing_article_keeps_its_url_and_count_grows(app, ctx, make_comment, wordpress_file):
    make_comment(article="67584", body="站内已有的评论")
    with app.app_context():
        found = db.session.execute(select(Article).where(Article.key == "67584")).scalar_one()
        found.url = "https://www.portal.example/kept.html"
        db.session.commit()

    importers.import_file("wordpress", wordpress_file)

    assert article(app, "67584").url == "https://www.portal.example/kept.html"
    assert article(app, "67584").title == "关于进一步优化政务服务的实施意见"  # it had none
    assert article(app, "67584").approved_count == 3 == approved_in(app, "67584")
