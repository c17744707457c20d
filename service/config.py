"""Documented defaults.

Every key here can be set from the environment with the ``COMMENTS_`` prefix
(``COMMENTS_CAPTCHA_TTL=300``). Values are parsed as JSON where they parse
(``true``, ``42``, ``["https://a.example"]``), else taken as strings. The README
lists every key; ``tests/test_config.py`` keeps that list and this one in step.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    # --- core -------------------------------------------------------------
    # Signs captcha tokens and dashboard sessions. Without one, a random key is
    # created once in the instance folder so every worker shares it.
    "SECRET_KEY": None,
    # SQLAlchemy URL. Default: SQLite file ``comments.db`` in the instance folder.
    # PostgreSQL: ``postgresql+psycopg://user@host/dbname``.
    "DATABASE_URL": None,
    # Redis for rate limits shared by every instance (``redis://127.0.0.1:6379/0``).
    # Without it, limits are kept per process in memory.
    "REDIS_URL": None,
    # Origins of the portal pages that embed the widget and call the public API,
    # e.g. ``["https://www.portal.example"]``. ``["*"]`` allows any origin.
    # The service's own origin is always allowed (the /demo page uses it).
    "ALLOWED_ORIGINS": [],
    # The service's own address as readers reach it (``https://comments.portal.example``),
    # for absolute URLs in embed.js, count.js and e-mails, and as its own allowed
    # origin. Never taken from a request's Host header. ``make run`` sets it.
    "PUBLIC_URL": None,
    # Number of reverse proxies in front of the service whose X-Forwarded-For
    # is trusted. 0 (default): the header is ignored.
    "TRUSTED_PROXIES": 0,
    # Request body limit in bytes; larger bodies get 413.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # --- comments ---------------------------------------------------------
    "COMMENT_MAX_LENGTH": 1000,
    "NICKNAME_MAX_LENGTH": 32,
    "DEFAULT_NICKNAME": "网友",
    "COMMENTS_PER_PAGE": 20,
    # --- public responses -----------------------------------------------------
    # Seconds a shared cache (CDN, proxy) may keep a public answer: counts, the
    # comments JSON and the widget page. Formerly COUNTS_MAX_AGE (still read).
    # None means 30, unless the old name gives another value.
    "PUBLIC_MAX_AGE": None,
    "COUNTS_MAX_KEYS": 200,
    # Seconds a worker reuses a rendered widget page or comments JSON page while its
    # article is unchanged (a publication or a like shows at once; only "3 minutes
    # ago" may be this old). 0 renders every request.
    "PAGE_CACHE_TTL": 10,
    # --- captcha ----------------------------------------------------------
    "CAPTCHA_TTL": 600,
    "CAPTCHA_LENGTH": 5,
    "CAPTCHA_WIDTH": 220,
    "CAPTCHA_HEIGHT": 70,
    # For automated tests of a running server only: the answer ``PASSED`` is
    # accepted for any valid, unspent token. Logged and shown on /healthz.
    "CAPTCHA_TEST_MODE": False,
    # --- rate limits (Flask-Limiter syntax) --------------------------------
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_CAPTCHA": "60/minute;600/hour",
    # The spoken captcha (.wav), on top of the limit above: a listener needs a few,
    # while a script trying to recognise the speech needs many (docs/security.md).
    "RATELIMIT_CAPTCHA_AUDIO": "6/minute;30/hour",
    "RATELIMIT_POST": "10/minute;100/hour",
    # Failed sign-ins per client IP, whatever the names (docs/security.md).
    "RATELIMIT_LOGIN": "10/minute",
    # Failed sign-ins per user name from one client IP: a stranger's failures
    # lock that name for the stranger's address only.
    "RATELIMIT_LOGIN_USER": "5 per 15 minutes",
    # Failed sign-ins per user name from all addresses together (many addresses
    # guessing one password). Addresses the account signed in from in the last
    # 30 days are not held back by it.
    "RATELIMIT_LOGIN_ACCOUNT": "30 per hour",
    "RATELIMIT_REPORT": "10/minute;50/day",
    "RATELIMIT_LIKE": "30/minute;300/day",
    # Likes per client address (an IPv6 /64) per comment in LIKE_IP_WINDOW_HOURS,
    # whatever the cookies: a script that takes a fresh cookie for every like
    # counts this many times at most. Above 1 so that a family, an office or a
    # school behind one address can like together; raise it where many readers
    # share an address (carrier-grade NAT).
    "LIKE_PER_IP": 3,
    # The window for LIKE_PER_IP; a browser that keeps no cookie counts once in it.
    "LIKE_IP_WINDOW_HOURS": 24,
    # --- portal identity (后台实名, 前台自愿) and IP 属地 ------------------------
    # The secret shared with the portal, which signs readers' identities as JWTs
    # (HS256, claims sub, name, exp). At least 32 characters. Unset: no identities.
    "IDENTITY_SECRET": None,
    # Seconds of clock skew allowed between the portal and this service when
    # checking an identity's expiry (exp).
    "IDENTITY_LEEWAY": 30,
    # true: only readers with a valid identity may comment (401 otherwise); the
    # widget shows a "登录后评论" link instead of the form.
    "REQUIRE_IDENTITY": False,
    # The portal's sign-in page for that link, e.g.
    # ``https://www.portal.example/login?next={url}``: ``{url}`` becomes the article's
    # address (without it, ``next=<url>`` is appended).
    "LOGIN_URL": None,
    # Show each comment's IP 属地 (province, or 海外) in the widget and the public
    # API. It is stored with every comment either way; moderators always see it.
    "SHOW_REGION": True,
    # --- spam waves (service/antispam) ---------------------------------------
    # Detect waves of similar comments from many addresses and keep them out of
    # the moderators' queue (docs/operations.md, "Under a spam wave").
    "ANTISPAM_ENABLED": True,
    # Seconds a post stays in the sliding window it is compared against.
    "ANTISPAM_WINDOW": 600,
    # Estimated Jaccard similarity (of character 3-grams of the folded text) from
    # which two posts count as the same text.
    "ANTISPAM_SIMILARITY": 0.5,
    # The same, between two posts that both name a contact (an advert padded with
    # a different sentence in each post stays about half alike).
    "ANTISPAM_CONTACT_SIMILARITY": 0.4,
    # Folded characters a text needs to be compared at all, unless it names a
    # contact (phone, QQ/WeChat id, web address): short phrases (顶, 支持) and the
    # slogans a crowd chants (中国女排加油！女排精神永不言败！) never are.
    "ANTISPAM_MIN_LENGTH": 20,
    # Similar posts naming contacts are a wave from this many posts and addresses.
    "ANTISPAM_WAVE_POSTS": 5,
    "ANTISPAM_WAVE_SENDERS": 3,
    # Similar posts without contacts are a wave from this many posts and addresses.
    "ANTISPAM_PLAIN_WAVE_SENDERS": 20,
    # Under-attack mode: on from this many posting attempts a minute site-wide or
    # on one article (0: never), or from a wave; off this many seconds after the
    # last trigger.
    "ATTACK_SITE_RATE": 300,
    "ATTACK_ARTICLE_RATE": 120,
    "ATTACK_COOLDOWN": 600,
    # Comment submissions per client IP while the mode is on.
    "RATELIMIT_POST_UNDER_ATTACK": "2/minute;6/hour",
    # While the mode is on, posts need an ALTCHA proof of work (the widget solves
    # it; about half this many SHA-256 hashes on average).
    "ATTACK_PROOF_OF_WORK": True,
    "ATTACK_POW_MAX_NUMBER": 50000,
    # --- moderation ---------------------------------------------------------
    # Site-wide default until an admin changes it in the dashboard:
    # "pre" (先审后发, held until approved) or "post" (先发后审).
    "MODERATION_MODE": "pre",
    "REJECT_REASONS": [
        "广告或垃圾信息",
        "人身攻击或辱骂",
        "违法违规内容",
        "与文章无关",
        "重复内容",
    ],
    "REPORT_REASONS": ["spam", "abuse", "illegal", "other"],
    "QUEUE_PAGE_SIZE": 50,
    # Days and the dashboard's "today" are counted in this time zone.
    "TIMEZONE": "Asia/Shanghai",
    # Set true when the service is only reached over HTTPS.
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # How moderators' passwords are hashed (werkzeug's method string). The
    # default is werkzeug's own (scrypt); tests choose a cheaper scrypt cost.
    "PASSWORD_HASH_METHOD": "scrypt",
    # Moderators stay signed in this many seconds without activity.
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    # --- retention (service/retention.py, run by ``flask retention run``) ----
    # Days a comment keeps its sender's full IP address and user agent; then the
    # address is cut to its /24 (IPv4) or /48 (IPv6) and the user agent dropped.
    # 180: the six months of records Chinese rules expect. null: kept for ever.
    "RETENTION_IP_DAYS": 180,
    # Days after anyone last acted on a rejected, spam or deleted comment before
    # it is purged for good. null: kept for ever.
    "RETENTION_PURGE_DAYS": 180,
    # --- operations ---------------------------------------------------------
    # Logs as one JSON object a line (with a request id), at this level.
    "LOG_JSON": True,
    "LOG_LEVEL": "INFO",
    # Prometheus metrics at /metrics, answered only to these networks (after
    # TRUSTED_PROXIES is applied) or to a request with ``Authorization: Bearer
    # <METRICS_TOKEN>``; anyone else gets 403.
    "METRICS_ENABLED": True,
    "METRICS_ALLOW": ["127.0.0.1/32", "::1/128"],
    "METRICS_TOKEN": None,
    # Seconds the pending-queue gauges may be reused between scrapes.
    "METRICS_QUEUE_TTL": 15,
    # The /demo portal page (``make run`` switches it on).
    "DEMO_ENABLED": False,
    # --- jobs and notifications (service.jobs, service.notify) ---------------
    # Where the job queue keeps its jobs. Unset: Redis at REDIS_URL when that is
    # set, else the SQLite file ``jobs.db`` in the instance folder. Also
    # ``sqlite:////path/jobs.db``, ``redis://host:6379/1`` or ``memory://`` (this
    # process only: tests). Run the worker with ``flask --app wsgi jobs run``.
    "JOBS_URL": None,
    # Webhooks, a JSON list of {"url", "kind", "secret", "events", "name"}: kind
    # generic (our JSON, signed with X-Comments-Signature), dingtalk, feishu or
    # wecom (chat robots); events "comment.pending" and/or "article.count_changed".
    "WEBHOOKS": [],
    # E-mail digest of new pending comments, over SMTP; off without SMTP_HOST or
    # NOTIFY_EMAILS. The password is never logged.
    "SMTP_HOST": None,
    "SMTP_PORT": 25,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "SMTP_FROM": None,
    "NOTIFY_EMAILS": [],
    # At most one digest (e-mail, or chat robot message) per channel per this many minutes.
    "DIGEST_MINUTES": 10,
    # Seconds to wait for a webhook or SMTP server before an attempt counts as failed.
    "NOTIFY_TIMEOUT": 10,
    # Attempts per notification before it is marked failed (shown in the dashboard);
    # the wait doubles from NOTIFY_RETRY_SECONDS after each failure, up to an hour.
    "NOTIFY_MAX_ATTEMPTS": 10,
    "NOTIFY_RETRY_SECONDS": 30,
    # --- languages ----------------------------------------------------------
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "LANGUAGES": ["zh_CN", "en"],
}


# Settings that were renamed: old name -> (new name, default). The old name
# still works when the new one is not given (left at None).
RENAMED = {"COUNTS_MAX_AGE": ("PUBLIC_MAX_AGE", 30)}


def apply_renamed(config: dict[str, Any]) -> list[str]:
    """Fill renamed settings from their old names or defaults; returns the old names used."""
    used = []
    for old, (new, default) in RENAMED.items():
        if old in config:
            used.append(old)
        if config.get(new) is None:
            config[new] = config.get(old, default)
    return used


def derived_settings(config: dict[str, Any], instance_path: str) -> dict[str, Any]:
    """Translate our documented keys into the keys Flask's extensions read."""
    url = config.get("DATABASE_URL") or f"sqlite:///{instance_path}/comments.db"
    settings: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": url,
        # Flask-Babel formats dates and times in the portal's zone, not UTC.
        "BABEL_DEFAULT_TIMEZONE": config["TIMEZONE"],
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        "RATELIMIT_STORAGE_URI": config.get("REDIS_URL") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Flask-Limiter would put Retry-After on every answer, 2xx included, and
        # override a 503's own value; its figure goes in a header of its own.
        "RATELIMIT_HEADER_RETRY_AFTER": "X-RateLimit-Reset-After",
        "RATELIMIT_STRATEGY": "moving-window",
        "RATELIMIT_KEY_PREFIX": "comments",
        # The widget posts without a cookie session; CSRF is for dashboard forms.
        "WTF_CSRF_TIME_LIMIT": None,
        # Brotli where the browser takes it, else gzip; tiny bodies stay as they are.
        "COMPRESS_ALGORITHM": ["br", "gzip"],
        "COMPRESS_MIMETYPES": [
            "text/html",
            "text/css",
            "text/javascript",
            "application/javascript",
            "application/json",
            "image/svg+xml",
        ],
        "COMPRESS_MIN_SIZE": 500,
        # Files are served from memory (service.assets), so nothing is streamed.
        "COMPRESS_STREAMS": False,
    }
    if config.get("REDIS_URL"):
        # Keep serving if Redis goes away: limits fall back to process memory
        # (logged once), and a Redis that hangs costs at most half a second.
        settings["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
        settings["RATELIMIT_STORAGE_OPTIONS"] = {
            "socket_timeout": 0.5,
            "socket_connect_timeout": 0.5,
        }
    settings["RATELIMIT_SWALLOW_ERRORS"] = True
    return settings


def engine_options(url: str) -> dict[str, Any]:
    """Engine settings per backend: SQLite waits for locks instead of failing."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
