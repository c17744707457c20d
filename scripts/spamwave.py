#!/usr/bin/env python3
"""A bounded spam wave against the service on 127.0.0.1, with genuine readers alongside.

Starts one gunicorn instance on SQLite (default) or two on PostgreSQL and Redis
(``--backend postgresql``), or drives a running instance (``--url``, with
``--database-url`` to read the outcome). The instances run as the issue's test
did: rate limits on, a trusted proxy (``TRUSTED_PROXIES=1``) passing each
client's address in X-Forwarded-For, and ``CAPTCHA_TEST_MODE`` standing in for
an attacker who solves every captcha (``PASSED``; under attack it also passes
as the proof of work).

The wave: ``--posts`` posts at ``--rate`` a minute from ``--addresses``
addresses (spread over many unrelated networks), near-duplicates of
``--adverts`` adverts (刷单兼职, 代开发票, 博彩, 删帖, 贷款, ...) on
``--articles`` hot articles, each post made unique by ``--mutations``. At the
same time ``--readers`` genuine readers, each from an address of their own, post
one ordinary comment each the way the widget does (captcha, then the proof of
work when one is asked for, solved for real).

It prints the attempts, refused, spam, before moderators (pending or approved,
with the share of attempts), the genuine readers' first-try success, and the
keypresses a moderator needs to clear what is left (one per open wave, one per
wave post outside a wave). It exits 1 when more than ``--max-before`` percent
reach the moderators or a genuine reader was not served on the first try.
Every request goes to 127.0.0.1 only; the run stops at ``--timeout``.

Examples::

    .venv/bin/python scripts/spamwave.py                       # the default wave
    .venv/bin/python scripts/spamwave.py --addresses 512 --variety 2
    .venv/bin/python scripts/spamwave.py --backend postgresql  # two instances, Redis
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import altcha
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import instances  # noqa: E402 - helpers shared with the tests

PG_DATABASE = "comments_spamwave"
REDIS_URL = "redis://127.0.0.1:6379/12"

ADVERTS = [
    "刷单兼职，日结{money}元，在家动动手指就能赚钱，宝妈学生都可以做，加V信{wx}详聊！",
    "代开各类发票，增值税普通发票专用发票，正规渠道，价格优惠，电话{phone}，诚信经营。",
    "真人博彩官网{site}点com，注册就送{money}元彩金，提款秒到账，信誉第一！",
    "专业删帖、负面信息处理，二十四小时在线，快速见效，加扣扣{qq}咨询，价格公道。",
    "无抵押贷款，当天放款，额度{money}到二十万，不看征信，联系电话{phone}。",
    "高仿名表一比一复刻，支持验货，全国包邮，加微信{wx}看图，老客户有优惠。",
    "股票内幕消息群，每天推荐牛股，稳赚不赔，进群加V{wx}，名额有限先到先得！",
    "游戏代练代充，全区全服，价格最低，安全不封号，扣扣{qq}，二十四小时接单。",
]
PREFIXES = ["说得好！", "顶一下，", "楼主说得对。", "👍 ", "路过看看，", "支持！"]
EMOJI = ["😀", "🔥", "💰", "👉", "✨", "🎉", "❤️"]
SEPARATORS = [" ", ".", "，", "*", "-", "~", "丶"]
TRADITIONAL = str.maketrans(
    "单兼职发票资询贷款联系电话号码赚钱", "單兼職發票資詢貸款聯繫電話號碼賺錢"
)
CHANNEL_SPELLINGS = ["V信", "薇信", "vx", "威信", "weixin", "微❤"]
MUTATIONS = ("spaces", "punct", "emoji", "fullwidth", "prefix", "channel", "trad")
GENUINE_OPENERS = [
    "这篇报道写得很详细",
    "看完文章有几点想法",
    "作为本地居民说两句",
    "家里老人也很关心这事",
    "上周刚去办过相关手续",
    "希望有关部门重视一下",
    "文章里的数据很有意思",
    "同意记者的观点",
]
GENUINE_MIDDLES = [
    "家门口那条路修了三年还没完工，",
    "社区医院的挂号比以前方便多了，",
    "孩子上学的问题一直没有解决，",
    "菜市场改造以后价格反而贵了，",
    "公交线路调整后通勤时间多了二十分钟，",
    "老旧小区加装电梯的进度太慢，",
    "政务大厅现在可以一次办好，",
    "垃圾分类推行得比去年好，",
    "停车难的问题在我们那里特别突出，",
    "新开的图书馆周末人很多，",
]
GENUINE_CLOSERS = [
    "期待后续跟进报道。",
    "希望能尽快落实。",
    "给工作人员点个赞。",
    "不知道别的区是什么情况？",
    "建议多听听群众的意见。",
    "总体来说还是在进步的。",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", action="append", default=[], help="a running instance")
    parser.add_argument("--database-url", help="its database, to read the outcome (with --url)")
    parser.add_argument("--posts", type=int, default=1000, help="posts in the wave")
    parser.add_argument("--rate", type=float, default=1000, help="wave posts a minute")
    parser.add_argument("--addresses", type=int, default=256, help="attacker addresses")
    parser.add_argument(
        "--adverts", type=int, default=3, help=f"distinct adverts (≤{len(ADVERTS)})"
    )
    parser.add_argument("--articles", type=int, default=5, help="hot articles attacked")
    parser.add_argument(
        "--mutations", default=",".join(MUTATIONS), help=f"comma list of {', '.join(MUTATIONS)}"
    )
    parser.add_argument(
        "--variety",
        type=int,
        choices=[1, 2],
        default=1,
        help="2: every mutation more often and a random genuine-looking sentence in each post",
    )
    parser.add_argument("--readers", type=int, default=40, help="genuine readers during the wave")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per instance")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the wave")
    parser.add_argument("--max-before", type=float, default=5.0, help="percent allowed")
    parser.add_argument("--redis-url", default=REDIS_URL, help="Redis for --backend postgresql")
    parser.add_argument(
        "--show-leftovers", type=int, default=0, help="print this many wave posts that got through"
    )
    args = parser.parse_args(argv)
    if args.url and not args.database_url:
        parser.error("--url needs --database-url to read what became of the posts")
    for url in args.url:
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            parser.error("only instances on this machine (127.0.0.1)")
    unknown = set(args.mutations.split(",")) - set(MUTATIONS) - {""}
    if unknown:
        parser.error(f"unknown mutations: {sorted(unknown)}")
    if not 1 <= args.adverts <= len(ADVERTS):
        parser.error(f"--adverts must be 1 to {len(ADVERTS)}")
    if min(args.posts, args.addresses, args.articles, args.threads) < 1 or args.rate <= 0:
        parser.error("--posts, --addresses, --articles, --threads and --rate must be positive")
    return args


# --- the wave's texts and addresses ---------------------------------------------------------


def attacker_addresses(count: int, rng: random.Random) -> list[str]:
    """Residential-proxy-like: every address in a different /16 of 100.64.0.0/10 and beyond."""
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(
            f"{rng.choice([100, 101, 36, 58, 61, 113, 117, 183])}.{rng.randrange(256)}."
            f"{rng.randrange(256)}.{rng.randrange(1, 255)}"
        )
    return sorted(seen, key=lambda _: rng.random())


def to_fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def mutate(template: str, n: int, mutations: set[str], rng: random.Random, variety: int) -> str:
    """One post of an advert: its own contact and amount, then the chosen disguises."""
    chance = 0.35 if variety == 1 else 0.65
    fields = {
        "money": str(rng.choice([200, 300, 500, 800, 1000, 3000])),
        "wx": f"{rng.choice(['wx', 'vip', 'abc', 'kf', 'hh'])}{rng.randrange(10**4, 10**7)}",
        "phone": f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}",
        "qq": str(rng.randrange(10**7, 10**10)),
        "site": f"{rng.choice(['bc', 'yl', 'am', 'xpj'])}{rng.randrange(100, 9999)}",
    }
    body = template.format(**fields)
    if "channel" in mutations and rng.random() < chance:
        body = body.replace("V信", rng.choice(CHANNEL_SPELLINGS)).replace(
            "点com", rng.choice(["点com", ".com", "。c0m", " dot com"])
        )
    if "trad" in mutations and rng.random() < chance:
        body = body.translate(TRADITIONAL)
    if "fullwidth" in mutations and rng.random() < chance:
        body = to_fullwidth(body)
    if variety >= 2 and rng.random() < 0.5:
        filler = rng.choice(GENUINE_MIDDLES)
        body = filler + body if rng.random() < 0.5 else body + filler
    if "prefix" in mutations and rng.random() < chance:
        body = rng.choice(PREFIXES) + body
    if "spaces" in mutations and rng.random() < chance:
        body = " ".join(body)
    elif "punct" in mutations and rng.random() < chance:
        body = rng.choice(SEPARATORS).join(body)
    if "emoji" in mutations and rng.random() < chance:
        chars = list(body)
        for _ in range(rng.randrange(2, 6)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(EMOJI))
        body = "".join(chars)
    return body[:1000]


def genuine_text(rng: random.Random) -> str:
    return (
        rng.choice(GENUINE_OPENERS)
        + "，"
        + rng.choice(GENUINE_MIDDLES)
        + rng.choice(GENUINE_CLOSERS)
    )


# --- one post, as an attacker or as a reader ------------------------------------------------


@dataclass
class Post:
    at: float  # seconds after the start
    genuine: bool
    address: str
    article: str
    body: str


@dataclass
class Outcome:
    lock: threading.Lock = field(default_factory=threading.Lock)
    wave_ids: list[int] = field(default_factory=list)
    wave_answers: Counter[str] = field(default_factory=Counter)
    reader_ids: list[int] = field(default_factory=list)
    reader_first_try: int = 0
    reader_retried: int = 0
    reader_failed: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def solve(challenge: dict[str, Any]) -> str:
    """What the widget does in the browser: find the number, send the payload."""
    solution = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxNumber"]
    )
    if solution is None:
        raise RuntimeError("proof-of-work challenge without a solution")
    payload = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}
    payload["number"] = solution.number
    return base64.b64encode(json.dumps(payload).encode()).decode()


def send(client: instances.Client, url: str, post: Post, out: Outcome) -> None:
    headers = {"X-Forwarded-For": post.address}
    got = client.request(url, "GET", "/captcha", headers=headers)
    if got.status != 200:
        record(post, f"captcha {got.status}", None, out)
        return
    captcha = got.json()
    payload = {
        "author": "读者" if post.genuine else "网友",
        "body": post.body,
        "captcha_token": captcha["token"],
        "captcha_answer": "PASSED",
    }
    if post.genuine:
        if captcha.get("proof_of_work"):
            payload["proof_of_work"] = solve(captcha["proof_of_work"])
    else:
        payload["proof_of_work"] = "PASSED"  # the perfect solver
    path = f"/api/v1/articles/{post.article}/comments"
    answer = client.request(url, "POST", path, json_body=payload, headers=headers)
    retried = False
    if post.genuine and answer.status == 422:
        error = answer.json().get("error", {})
        if error.get("code") == "proof_of_work_required" and error.get("proof_of_work"):
            # The mode came on between the captcha and the post: the widget solves and resends.
            payload["proof_of_work"] = solve(error["proof_of_work"])
            answer = client.request(url, "POST", path, json_body=payload, headers=headers)
            retried = True
    comment_id = answer.json().get("id") if answer.status == 202 else None
    record(post, str(answer.status), comment_id, out, retried)


def record(post: Post, what: str, comment_id: int | None, out: Outcome, retried: bool = False):
    with out.lock:
        if not post.genuine:
            out.wave_answers[what] += 1
            if comment_id is not None:
                out.wave_ids.append(comment_id)
        elif comment_id is not None:
            out.reader_ids.append(comment_id)
            if retried:
                out.reader_retried += 1
            else:
                out.reader_first_try += 1
        else:
            out.reader_failed.append(what)


def worker(
    urls: list[str],
    plan: list[Post],
    cursor: list[int],
    lock: threading.Lock,
    start: float,
    deadline: float,
    out: Outcome,
) -> None:
    with instances.Client() as client:
        while True:
            with lock:
                if cursor[0] >= len(plan):
                    return
                index = cursor[0]
                cursor[0] += 1
            post = plan[index]
            wait = start + post.at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if time.monotonic() > deadline:
                with out.lock:
                    out.errors["not sent: past --timeout"] += 1
                continue
            try:
                send(client, urls[index % len(urls)], post, out)
            except (OSError, ValueError, KeyError, RuntimeError) as error:
                with out.lock:
                    out.errors[type(error).__name__] += 1
                record(post, "error", None, out)


def make_plan(args: argparse.Namespace) -> list[Post]:
    rng = random.Random(args.seed)
    addresses = attacker_addresses(args.addresses, rng)
    articles = [f"hot-{i}" for i in range(args.articles)]
    mutations = set(args.mutations.split(",")) - {""}
    spacing = 60.0 / args.rate
    plan = [
        Post(
            i * spacing,
            False,
            addresses[i % len(addresses)],
            articles[i % len(articles)],
            mutate(ADVERTS[i % args.adverts], i, mutations, rng, args.variety),
        )
        for i in range(args.posts)
    ]
    duration = args.posts * spacing
    for r in range(args.readers):
        plan.append(
            Post(
                duration * (r + 0.5) / max(1, args.readers),
                True,
                f"203.0.{113 + r // 250}.{r % 250 + 1}",
                rng.choice(articles),
                genuine_text(rng),
            )
        )
    plan.sort(key=lambda p: p.at)
    return plan


# --- the instances and the outcome ----------------------------------------------------------


def start(args: argparse.Namespace, workdir: Path, started: list[instances.Instance]):
    secret = instances.new_secret_key()
    redis_url = None
    if args.backend == "sqlite":
        database_url = f"sqlite:///{workdir / 'comments.db'}"
        names = "A"
    else:
        for problem in (instances.postgres_problem(), instances.redis_problem(args.redis_url)):
            if problem:
                raise SystemExit(problem)
        database_url = instances.recreate_postgres_database(PG_DATABASE)
        redis_url = args.redis_url
        instances.flush_redis(redis_url)
        names = "AB"
    env = instances.service_env(
        SECRET_KEY=secret,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CAPTCHA_TEST_MODE=True,
        TRUSTED_PROXIES=1,
        RATELIMIT_ENABLED=True,
        LOG_JSON=True,
    )
    instances.migrate(env)
    for name in names:
        instance = instances.Instance(name, env, workdir / "logs", workers=args.workers)
        started.append(instance)
        instance.start()
    for instance in started:
        instance.wait_healthy()
    return [i.url for i in started], database_url


@dataclass
class Report:
    attempts: int
    refused: int
    spam: int
    before: int
    pending: int
    approved: int
    readers: int
    reader_first_try: int
    reader_retried: int
    reader_pending: int
    open_waves: int
    loose: int
    leftovers: list[str]
    answers: Counter[str]
    errors: Counter[str]
    elapsed: float
    max_before: float

    @property
    def before_percent(self) -> float:
        return 100.0 * self.before / self.attempts if self.attempts else 0.0

    @property
    def keypresses(self) -> int:
        return self.open_waves + self.loose

    @property
    def ok(self) -> bool:
        return (
            self.before_percent <= self.max_before
            and self.reader_first_try == self.readers
            and self.reader_pending == self.readers
        )

    def text(self) -> str:
        refused = ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items()) if k != "202")
        readers = self.readers or 1
        return "\n".join(
            [
                f"attempts               {self.attempts}",
                f"refused                {self.refused}  ({refused or 'none'})",
                f"spam                   {self.spam}",
                f"before moderators      {self.before}  ({self.before_percent:.1f}% of attempts;"
                f" pending {self.pending}, approved {self.approved})",
                f"genuine readers        {self.reader_first_try}/{self.readers} served on the first"
                f" try ({100.0 * self.reader_first_try / readers:.1f}%), {self.reader_pending}"
                f" pending as usual, {self.reader_retried} after a proof-of-work retry",
                f"moderator keypresses   {self.keypresses}  ({self.open_waves} open waves × 1,"
                f" {self.loose} wave posts outside a wave × 1)",
                f"client errors          {dict(self.errors) or 'none'}",
                f"elapsed                {self.elapsed:.1f} s",
                "RESULT                 " + ("ok" if self.ok else "FAILED"),
            ]
        )


def outcome(database_url: str, out: Outcome, elapsed: float, max_before: float) -> Report:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:

            def statuses(ids: list[int]) -> dict[int, str]:
                found: dict[int, str] = {}
                for chunk in range(0, len(ids), 500):
                    part = ids[chunk : chunk + 500]
                    if part:
                        rows = conn.execute(
                            text(
                                "SELECT id, status, deleted_at IS NOT NULL FROM comment "
                                f"WHERE id IN ({','.join(str(int(i)) for i in part)})"
                            )
                        )
                        found.update({i: "deleted" if d else s for i, s, d in rows})
                return found

            wave = statuses(out.wave_ids)
            readers = statuses(out.reader_ids)
            members = set(conn.execute(text("SELECT comment_id FROM spam_wave_member")).scalars())
            before_ids = [i for i, s in wave.items() if s in ("pending", "approved")]
            leftovers = [
                body
                for (body,) in conn.execute(
                    text(
                        "SELECT body FROM comment WHERE id IN "
                        f"({','.join(str(int(i)) for i in before_ids[:50]) or '0'})"
                    )
                )
            ]
            open_waves = conn.execute(
                text("SELECT count(*) FROM spam_wave WHERE status = 'open'")
            ).scalar_one()
    finally:
        engine.dispose()
    kinds = Counter(wave.values())
    attempts = sum(out.wave_answers.values())
    return Report(
        attempts=attempts,
        refused=attempts - len(out.wave_ids),
        spam=kinds["spam"] + kinds["rejected"],
        before=len(before_ids),
        pending=kinds["pending"],
        approved=kinds["approved"],
        readers=len(out.reader_ids) + len(out.reader_failed),
        reader_first_try=out.reader_first_try,
        reader_retried=out.reader_retried,
        reader_pending=sum(1 for s in readers.values() if s == "pending"),
        open_waves=open_waves,
        loose=sum(1 for i in before_ids if i not in members),
        leftovers=leftovers,
        answers=out.wave_answers,
        errors=out.errors,
        elapsed=elapsed,
        max_before=max_before,
    )


def run(args: argparse.Namespace) -> Report:
    started: list[instances.Instance] = []
    with tempfile.TemporaryDirectory(prefix="spamwave-") as tmp:
        try:
            if args.url:
                urls, database_url = args.url, args.database_url
            else:
                urls, database_url = start(args, Path(tmp), started)
            plan = make_plan(args)
            out = Outcome()
            lock, cursor = threading.Lock(), [0]
            began = time.monotonic()
            deadline = began + args.timeout
            threads = [
                threading.Thread(
                    target=worker, args=(urls, plan, cursor, lock, began, deadline, out)
                )
                for _ in range(args.threads)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
            return outcome(database_url, out, elapsed, args.max_before)
        finally:
            instances.stop_all(started)


def describe(args: argparse.Namespace) -> str:
    backend = (
        "running instance"
        if args.url
        else (
            "one instance on SQLite"
            if args.backend == "sqlite"
            else "two instances, PostgreSQL+Redis"
        )
    )
    return (
        f"wave: {args.posts} posts at {args.rate:g}/min from {args.addresses} addresses, "
        f"{args.adverts} adverts, {args.articles} articles, mutations {args.mutations}, "
        f"variety {args.variety}; {args.readers} genuine readers; {backend}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(describe(args), flush=True)
    report = run(args)
    print(report.text(), flush=True)
    for body in report.leftovers[: args.show_leftovers]:
        print("  got through:", body)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
