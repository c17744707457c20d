#!/usr/bin/env python3
"""What the spam-wave detector costs the normal posting path, measured in process.

Builds the app on a fresh, migrated SQLite file (captcha in test mode, rate
limits off, a trusted proxy), then times ``--posts`` ordinary comments, each
from its own address and long enough to be fingerprinted, through the JSON API
(``POST /api/v1/articles/<a>/comments``; the captcha is fetched outside the
timing), after ``--warmup`` untimed ones. Each configuration is run
``--rounds`` times, interleaved, and the best round's median is the figure.
Also times ``GET /captcha`` and checks that issuing captchas writes no row,
with the mode off and on.

Configurations: ``off`` (ANTISPAM_ENABLED=false), ``memory`` (the in-process
window), ``redis`` (the window in Redis database 13, flushed first). With
``--root PATH`` another checkout of the project is measured instead (e.g. the
commit before the detector, unpacked with ``git archive``): only ``off`` makes
sense there.

    .venv/bin/python scripts/bench_posting.py
    git archive 579e072 | tar -x -C /tmp/base && \\
        .venv/bin/python scripts/bench_posting.py --root /tmp/base --configs off
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REDIS_URL = "redis://127.0.0.1:6379/13"
SENTENCES = [
    "这篇文章把政策背景和具体措施讲得很清楚，我们普通老百姓也能看明白。",
    "希望各地在落实的时候不要搞一刀切，多听听基层办事群众的意见。",
    "上个月去政务服务中心办营业执照，只跑了一次就办完了，效率确实提高了。",
    "家里老人不会用智能手机，建议线下窗口继续保留，并且安排专人引导。",
    "“一网通办”的方向是对的，但有些系统之间的数据还是不通。",
    "文章提到的容缺受理制度很好，能不能公布一下具体适用哪些事项？",
    "我们县里的政务大厅周末也开放了，上班族终于不用请假去办事了。",
    "建议把各项服务的办理时限和进度查询做得更透明一些，方便群众监督。",
    "作为个体工商户，最关心的是税费减免政策什么时候能真正落地。",
    "希望这样的好政策能持续下去，不要一阵风过去就没人管了。",
    "网上办理的页面有时候打不开，高峰期排队很久，服务器需要扩容。",
    "感谢记者的深入报道，期待后续能跟踪报道一下实施效果。",
    "社保卡、医保、公积金能不能合在一个平台上办理？",
    "窗口工作人员态度很好，耐心解答问题，给他们点个赞。",
    "偏远乡镇的网络条件还比较差，数字化服务要考虑到这些地方的实际情况。",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="the project checkout to measure (default: this one)")
    parser.add_argument("--configs", default="off,memory,redis")
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


def text(rng: random.Random, n: int) -> str:
    """Two of the sentences, as a reader might write them (ordinary length, no contact)."""
    first, second = rng.sample(SENTENCES, 2)
    return f"{first}{second}"


def build(config: str, workdir: Path):  # type: ignore[no-untyped-def]
    from flask_migrate import upgrade

    from service import create_app

    settings = {
        "TESTING": True,
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
        "DATABASE_URL": f"sqlite:///{workdir / (config + '.db')}",
        "RATELIMIT_ENABLED": False,
        "CAPTCHA_TEST_MODE": True,
        "TRUSTED_PROXIES": 1,
        "METRICS_ENABLED": False,
        "LOG_LEVEL": "ERROR",
        "ANTISPAM_ENABLED": config != "off",
        # Nothing is wrong here: posts are counted as always, but the in-process burst
        # of a benchmark must not switch the under-attack mode on.
        "ATTACK_SITE_RATE": 0,
        "ATTACK_ARTICLE_RATE": 0,
    }
    if config == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        client.close()
        settings["REDIS_URL"] = REDIS_URL
    app = create_app(settings)
    with app.app_context():
        upgrade()
    return app


def rows(app) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from service.extensions import db

    with app.app_context():
        return sum(
            db.session.execute(select(func.count()).select_from(t)).scalar_one()
            for t in db.metadata.sorted_tables
        )


def one_round(app, posts: int, warmup: int, seed: int):  # type: ignore[no-untyped-def]
    """Wall-clock and CPU seconds of each timed post, and wall seconds of each captcha."""
    rng = random.Random(seed)
    client = app.test_client()
    post_times, cpu_times, captcha_times = [], [], []
    for n in range(warmup + posts):
        headers = {"X-Forwarded-For": f"10.{seed % 200}.{n // 250}.{n % 250 + 1}"}
        started = time.perf_counter()
        token = client.get("/captcha", headers=headers).get_json()["token"]
        captcha_times.append(time.perf_counter() - started)
        payload = {"body": text(rng, n), "captcha_token": token, "captcha_answer": "PASSED"}
        started, cpu = time.perf_counter(), time.process_time()
        answer = client.post(
            f"/api/v1/articles/bench-{n % 5}/comments", json=payload, headers=headers
        )
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
        if answer.status_code != 202:
            raise SystemExit(f"post {n} answered {answer.status_code}: {answer.get_data()[:200]!r}")
        if n >= warmup:
            post_times.append(elapsed)
            cpu_times.append(cpu_used)
    return post_times, cpu_times, captcha_times[warmup:]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(args.root).resolve() if args.root else Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    import logging

    logging.disable(logging.WARNING)
    configs = [c for c in args.configs.split(",") if c]
    results: dict[str, list[tuple[float, float, float, float]]] = {c: [] for c in configs}
    captcha: dict[str, list[float]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="bench-posting-") as tmp:
        for round_no in range(args.rounds):
            for config in configs:
                workdir = Path(tmp) / f"{config}-{round_no}"
                workdir.mkdir()
                app = build(config, workdir)
                posts, cpus, captchas = one_round(app, args.posts, args.warmup, 100 + round_no)
                # Issuing captchas writes nothing, whatever the mode.
                before = rows(app)
                client = app.test_client()
                if config != "off" and round_no == 0:
                    from service import antispam

                    with app.test_request_context():
                        antispam.trigger("benchmark: captcha issuing under attack")
                    before = rows(app)
                for _ in range(20):
                    client.get("/captcha", headers={"X-Forwarded-For": "10.255.0.1"})
                if rows(app) != before:
                    raise SystemExit(f"{config}: issuing captchas wrote rows")
                ms = [t * 1000 for t in posts]
                results[config].append(
                    (
                        statistics.median(ms),
                        statistics.quantiles(ms, n=10)[8],
                        statistics.mean(ms),
                        statistics.median(cpus) * 1000,
                    )
                )
                captcha[config].append(statistics.median(captchas) * 1000)
    print(
        f"root {root}; {args.posts} timed posts per round (+{args.warmup} warm-up), "
        f"{args.rounds} rounds; best round shown"
    )
    print(
        f"{'config':8} {'median ms':>10} {'p90 ms':>8} {'mean ms':>8} {'CPU median ms':>14}"
        f" {'captcha median ms':>18}"
    )
    for config in configs:
        best = min(results[config])
        cpu = min(r[3] for r in results[config])
        print(
            f"{config:8} {best[0]:10.2f} {best[1]:8.2f} {best[2]:8.2f} {cpu:14.2f}"
            f" {min(captcha[config]):18.2f}"
        )
    print("issuing captchas wrote no row in any configuration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
