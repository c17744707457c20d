#!/usr/bin/env python3
"""How many bytes a reader downloads for the comments, against the size budgets.

Builds the app on a temporary SQLite database (migrated like production), stores
20 approved comments of realistic Chinese length (some of them replies), then
fetches with Flask's test client: ``/embed.js``, ``/count.js``, the widget page
``/embed/67584`` and the versioned CSS and JS that page links to. For each it
prints the raw size, gzip (level 6) and brotli (at the service's own
``COMPRESS_BR_LEVEL``, what readers are sent) in bytes.

Budgets (compressed, gzip and brotli alike): ``embed.js`` and ``count.js`` at most
4096 bytes each; the widget page plus its CSS at most 30 KiB. Exits 1 when one is
exceeded::

    .venv/bin/python scripts/measure_sizes.py
"""

from __future__ import annotations

import gzip
import random
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import brotli

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(PROJECT_ROOT))

ARTICLE = "67584"
TITLE = "关于进一步优化政务服务的实施意见"
COMMENTS = 20
REPLIES = 6
SCRIPT_BUDGET = 4096
WIDGET_BUDGET = 30 * 1024
GZIP_LEVEL = 6
# Flask-Compress's default brotli quality, used when the app does not set one.
DEFAULT_BR_LEVEL = 4

SENTENCES = [
    "这篇文章把政策背景和具体措施讲得很清楚，我们普通老百姓也能看明白。",
    "希望各地在落实的时候不要搞一刀切，多听听基层办事群众的意见。",
    "上个月去政务服务中心办营业执照，只跑了一次就办完了，效率确实提高了。",
    "家里老人不会用智能手机，建议线下窗口继续保留，并且安排专人引导。",
    "“一网通办”的方向是对的，但有些系统之间的数据还是不通，需要重复提交材料。",
    "文章提到的容缺受理制度很好，能不能公布一下具体适用哪些事项？",
    "我们县里的政务大厅周末也开放了，上班族终于不用请假去办事了。",
    "建议把各项服务的办理时限和进度查询做得更透明一些，方便群众监督。",
    "作为个体工商户，最关心的是税费减免政策什么时候能真正落地。",
    "希望这样的好政策能持续下去，不要一阵风过去就没人管了。",
    "网上办理的页面有时候打不开，高峰期排队很久，服务器需要扩容。",
    "感谢记者的深入报道，期待后续能跟踪报道一下实施效果。",
    "社保卡、医保、公积金能不能合在一个平台上办理？现在要下载好几个应用。",
    "窗口工作人员态度很好，耐心解答问题，给他们点个赞。",
    "偏远乡镇的网络条件还比较差，数字化服务要考虑到这些地方的实际情况。",
]
NICKNAMES = ["网友", "张三", "李四", "王小明", "江南烟雨", "老陈", "小刘同学", "城西居民"]


@dataclass(frozen=True)
class Measured:
    name: str
    url: str
    raw: int
    gzip: int
    brotli: int

    @property
    def largest(self) -> int:
        return max(self.gzip, self.brotli)


@dataclass(frozen=True)
class Report:
    rows: list[Measured]
    brotli_level: int

    def row(self, name: str) -> Measured:
        return next(r for r in self.rows if r.name == name)

    @property
    def widget_total(self) -> Measured:
        page, css = self.row("widget page"), self.row("widget CSS")
        return Measured(
            "widget page + CSS",
            "",
            page.raw + css.raw,
            page.gzip + css.gzip,
            page.brotli + css.brotli,
        )

    def failures(self) -> list[str]:
        """Every budget exceeded, as sentences; empty when all are kept."""
        problems = []
        for name in ("embed.js", "count.js"):
            row = self.row(name)
            if row.largest > SCRIPT_BUDGET:
                problems.append(
                    f"{name}: {row.gzip} B gzip / {row.brotli} B brotli, budget {SCRIPT_BUDGET} B"
                )
        total = self.widget_total
        if total.largest > WIDGET_BUDGET:
            problems.append(
                f"widget page + CSS: {total.gzip} B gzip / {total.brotli} B brotli, "
                f"budget {WIDGET_BUDGET} B"
            )
        return problems

    def table(self) -> str:
        header = ("resource", "raw", "gzip-6", f"brotli-q{self.brotli_level}", "URL")
        lines = [header, *[(r.name, r.raw, r.gzip, r.brotli, r.url) for r in self.rows]]
        total = self.widget_total
        lines.append((total.name, total.raw, total.gzip, total.brotli, f"budget {WIDGET_BUDGET}"))
        widths = [max(len(str(line[i])) for line in lines) for i in range(4)]
        rendered = []
        for line in lines:
            name, *numbers, url = line
            cells = [str(name).ljust(widths[0])]
            cells += [str(v).rjust(widths[i + 1]) for i, v in enumerate(numbers)]
            rendered.append("  ".join([*cells, str(url)]).rstrip())
        rule = "-" * max(len(line) for line in rendered)
        return "\n".join([rendered[0], rule, *rendered[1:-1], rule, rendered[-1]])


def compressed_sizes(data: bytes, brotli_level: int) -> tuple[int, int]:
    gzipped = gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    return len(gzipped), len(brotli.compress(data, quality=brotli_level))


def comment_text(rng: random.Random) -> str:
    """Sentences from the pool until the text is 80 to 150 characters long."""
    while True:
        text = ""
        for sentence in rng.sample(SENTENCES, len(SENTENCES)):
            if len(text) + len(sentence) > 150:
                continue
            text += sentence
            if len(text) >= 80:
                return text


def seed_comments(count: int = COMMENTS, replies: int = REPLIES) -> list[int]:
    """Store ``count`` approved comments, the last ``replies`` of them replies; their ids.

    Needs an app context. The comments are spread over the last two days.
    """
    from service import moderation
    from service.articles import ensure_article
    from service.extensions import db
    from service.models import Comment, Status

    rng = random.Random(67584)
    now = datetime.now(UTC)
    ids: list[int] = []
    article = ensure_article(ARTICLE, TITLE, None)
    for n in range(count):
        parent = db.session.get(Comment, rng.choice(ids)) if n >= count - replies else None
        comment = Comment(
            article=article,
            parent=parent,
            root_id=(parent.root_id or parent.id) if parent is not None else None,
            author=rng.choice(NICKNAMES),
            body=comment_text(rng),
            status=Status.APPROVED,
            remote_addr=f"203.0.113.{n + 1}",
            created_at=now - timedelta(minutes=(count - n) * 97),
            likes=rng.randrange(0, 40),
        )
        db.session.add(comment)
        db.session.flush()
        moderation.admit(comment)
        ids.append(comment.id)
    db.session.commit()
    return ids


def asset_urls(page: str) -> dict[str, str]:
    """The versioned CSS and JS URLs the widget page links to."""
    found = {}
    for kind, pattern in (
        ("widget CSS", r'<link[^>]+href="(/assets/widget\.[0-9a-f]+\.css)"'),
        ("widget JS", r'<script[^>]+src="(/assets/widget\.[0-9a-f]+\.js)"'),
    ):
        match = re.search(pattern, page)
        if not match:
            raise RuntimeError(f"the widget page links to no {kind}")
        found[kind] = match.group(1)
    return found


def measure() -> Report:
    """Build the app on a temporary database and measure what a reader downloads."""
    from flask_migrate import upgrade

    from service import create_app
    from service.extensions import db

    with tempfile.TemporaryDirectory(prefix="measure-sizes-") as folder:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "measure-sizes-not-secret",
                "DATABASE_URL": f"sqlite:///{Path(folder) / 'comments.db'}",
                "RATELIMIT_ENABLED": False,
            }
        )
        try:
            with app.app_context():
                upgrade()
            with app.test_request_context():
                seed_comments()
            brotli_level = int(app.config.get("COMPRESS_BR_LEVEL", DEFAULT_BR_LEVEL))
            client = app.test_client()
            widget_url = f"/embed/{ARTICLE}"
            page = client.get(widget_url)
            if page.status_code != 200:
                raise RuntimeError(f"GET {widget_url} -> {page.status}")
            html = page.get_data(as_text=True)
            shown = html.count('class="cw-item')
            if shown != COMMENTS:
                raise RuntimeError(f"the widget page shows {shown} comments, not {COMMENTS}")
            targets = {
                "embed.js": "/embed.js",
                "count.js": "/count.js",
                "widget page": widget_url,
                **asset_urls(html),
            }
            rows = []
            for name, url in targets.items():
                response = client.get(url)  # no Accept-Encoding: the raw bytes
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url} -> {response.status}")
                data = response.get_data()
                gz, br = compressed_sizes(data, brotli_level)
                rows.append(Measured(name, url, len(data), gz, br))
            return Report(rows, brotli_level)
        finally:
            with app.app_context():
                db.engine.dispose()


def main() -> int:
    report = measure()
    print(report.table())
    problems = report.failures()
    for problem in problems:
        print(f"OVER BUDGET: {problem}", file=sys.stderr)
    if not problems:
        print("All size budgets kept.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
