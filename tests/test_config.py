"""Settings, the instance secret key and the Chinese message catalogue."""

from __future__ import annotations

import io
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from conftest import base_config
from flask import Flask

from service import create_app, secrets_file
from service.config import DEFAULTS
from service.extensions import db

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CATALOG_DIR = ROOT / "service" / "translations" / "zh" / "LC_MESSAGES"
PO_FILE = CATALOG_DIR / "messages.po"
MO_FILE = CATALOG_DIR / "messages.mo"


def readme_settings() -> list[str]:
    """The COMMENTS_* variables of the README's settings table, in order."""
    section = README.read_text(encoding="utf-8").split("## Settings", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `COMMENTS_([A-Z0-9_]+)` \|", section, flags=re.MULTILINE)


@pytest.fixture
def build_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """create_app() on the test's database with the conftest settings minus some keys."""
    apps: list[Flask] = []

    def factory(*without: str, **overrides: Any) -> Flask:
        config = base_config(database_url, **overrides)
        for key in without:
            config.pop(key, None)
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.engine.dispose()


# --- the README's settings table ------------------------------------------------------------


def test_readme_table_is_found():
    assert len(readme_settings()) >= 10
    assert "SECRET_KEY" in readme_settings()


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_default_is_documented_in_the_readme(key):
    assert key in readme_settings(), f"COMMENTS_{key} is missing from README.md's settings table"


@pytest.mark.parametrize("name", ["PUBLIC_MAX_AGE", "COUNTS_MAX_AGE"])
def test_public_cache_lifetime_reaches_every_public_answer(monkeypatch, build_app, name):
    monkeypatch.setenv(f"COMMENTS_{name}", "7")
    client = build_app().test_client()

    for path in ("/api/v1/counts?article=1", "/api/v1/articles/1/comments"):
        assert "max-age=7" in client.get(path).headers["Cache-Control"], path
    assert "s-maxage=7" in client.get("/embed/1").headers["Cache-Control"]


def test_the_new_name_wins_over_the_old_one(monkeypatch, build_app):
    monkeypatch.setenv("COMMENTS_COUNTS_MAX_AGE", "7")
    monkeypatch.setenv("COMMENTS_PUBLIC_MAX_AGE", "9")

    assert build_app().config["PUBLIC_MAX_AGE"] == 9


def test_every_documented_setting_exists():
    unknown = set(readme_settings()) - set(DEFAULTS)

    assert not unknown, f"README documents settings that do not exist: {sorted(unknown)}"


def test_no_setting_is_documented_twice():
    names = readme_settings()

    assert len(names) == len(set(names))


# --- settings from the environment ---------------------------------------------------------------


def test_comment_length_comes_from_the_environment(monkeypatch, build_app, solved):
    monkeypatch.setenv("COMMENTS_COMMENT_MAX_LENGTH", "5")

    app = build_app("COMMENT_MAX_LENGTH")

    assert app.config["COMMENT_MAX_LENGTH"] == 5
    assert type(app.config["COMMENT_MAX_LENGTH"]) is int


def test_environment_limit_is_enforced(monkeypatch, build_app):
    monkeypatch.setenv("COMMENTS_COMMENT_MAX_LENGTH", "5")
    client = build_app("COMMENT_MAX_LENGTH").test_client()
    token = client.get("/captcha").get_json()["token"]

    response = client.post(
        "/api/v1/articles/67584/comments",
        json={"body": "六个字的评论", "captcha_token": token, "captcha_answer": "WRONG"},
    )

    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["body"]["code"] == "too_long"


@pytest.mark.parametrize(
    ("variable", "raw", "expected"),
    [
        ("CAPTCHA_TEST_MODE", "true", True),
        ("CAPTCHA_TEST_MODE", "false", False),
        ("RATELIMIT_ENABLED", "false", False),
        ("CAPTCHA_TTL", "300", 300),
        ("PUBLIC_MAX_AGE", "0", 0),
        ("ALLOWED_ORIGINS", '["https://a.example", "*"]', ["https://a.example", "*"]),
        ("LANGUAGES", '["en"]', ["en"]),
        ("DEFAULT_NICKNAME", "游客", "游客"),
        ("RATELIMIT_POST", "5/minute", "5/minute"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_environment_values_are_parsed_as_json_where_they_parse(
    monkeypatch, build_app, variable, raw, expected
):
    monkeypatch.setenv(f"COMMENTS_{variable}", raw)

    app = build_app(variable)

    assert app.config[variable] == expected
    assert type(app.config[variable]) is type(expected)


def test_captcha_test_mode_from_the_environment_accepts_passed(monkeypatch, build_app):
    monkeypatch.setenv("COMMENTS_CAPTCHA_TEST_MODE", "true")
    client = build_app("CAPTCHA_TEST_MODE").test_client()
    token = client.get("/captcha").get_json()["token"]

    health = client.get("/healthz").get_json()
    response = client.post(
        "/api/v1/articles/67584/comments",
        json={"body": "自动化测试 🤖", "captcha_token": token, "captcha_answer": "PASSED"},
    )

    assert health["captcha_test_mode"] is True
    assert response.status_code == 202


def test_captcha_test_mode_is_off_by_default(build_app):
    client = build_app().test_client()
    token = client.get("/captcha").get_json()["token"]

    response = client.post(
        "/api/v1/articles/67584/comments",
        json={"body": "自动化测试 🤖", "captcha_token": token, "captcha_answer": "PASSED"},
    )

    assert client.get("/healthz").get_json()["captcha_test_mode"] is False
    assert response.status_code == 422


def test_explicit_config_wins_over_the_environment(monkeypatch, build_app):
    monkeypatch.setenv("COMMENTS_ALLOWED_ORIGINS", '["https://env.example"]')
    monkeypatch.setenv("COMMENTS_COMMENTS_PER_PAGE", "7")

    app = build_app()

    assert app.config["ALLOWED_ORIGINS"] == ["https://www.portal.example"]
    assert app.config["COMMENTS_PER_PAGE"] == 7


def test_defaults_apply_without_environment(build_app):
    app = build_app()

    for key in ("COMMENT_MAX_LENGTH", "COUNTS_MAX_KEYS", "DEFAULT_NICKNAME", "MAX_CONTENT_LENGTH"):
        assert app.config[key] == DEFAULTS[key]


# --- the instance secret key ------------------------------------------------------------------


def test_secret_key_file_is_created_private(tmp_path):
    key = secrets_file.load_or_create(tmp_path)

    path = tmp_path / secrets_file.FILENAME
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert path.read_text().strip() == key


def test_secret_key_is_created_once_and_then_reused(tmp_path):
    first = secrets_file.load_or_create(tmp_path)
    written = (tmp_path / secrets_file.FILENAME).stat().st_mtime_ns

    second = secrets_file.load_or_create(tmp_path)

    assert second == first
    assert (tmp_path / secrets_file.FILENAME).stat().st_mtime_ns == written


def test_each_instance_gets_its_own_random_key(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    assert secrets_file.load_or_create(tmp_path / "a") != secrets_file.load_or_create(
        tmp_path / "b"
    )


def test_an_existing_key_file_is_read_not_replaced(tmp_path):
    (tmp_path / secrets_file.FILENAME).write_text("运维设置的密钥-key\n", encoding="utf-8")

    assert secrets_file.load_or_create(tmp_path) == "运维设置的密钥-key"


def test_an_empty_key_file_is_an_error_not_an_empty_key(tmp_path, monkeypatch):
    (tmp_path / secrets_file.FILENAME).write_text("")
    monkeypatch.setattr(secrets_file.time, "sleep", lambda _seconds: None)

    with pytest.raises(RuntimeError, match="empty"):
        secrets_file.load_or_create(tmp_path)


def test_configured_secret_key_is_used_as_is(build_app):
    app = build_app(SECRET_KEY="配置的密钥")

    assert app.config["SECRET_KEY"] == "配置的密钥"


# --- the Chinese catalogue ------------------------------------------------------------------------


def load_po() -> Catalog:
    with PO_FILE.open("rb") as handle:
        return read_po(handle)


def translations(catalog: Catalog) -> dict[Any, Any]:
    return {message.id: message.string for message in catalog if message.id}


def test_catalogue_has_messages():
    assert len(translations(load_po())) >= 20


def test_every_message_has_a_chinese_translation():
    catalog = load_po()

    untranslated = [
        message.id
        for message in catalog
        if message.id
        and (
            not message.string
            or (isinstance(message.string, tuple) and not all(message.string))
            or message.fuzzy
        )
    ]

    assert not untranslated, f"untranslated or fuzzy in {PO_FILE.name}: {untranslated}"


def test_translations_keep_their_placeholders():
    for message in load_po():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(re.findall(r"%\(\w+\)[sd]", ids[0]))
        for string in strings:
            assert set(re.findall(r"%\(\w+\)[sd]", string)) == wanted, message.id


def test_committed_mo_matches_the_po():
    compiled = io.BytesIO()
    write_mo(compiled, load_po())
    compiled.seek(0)

    with MO_FILE.open("rb") as handle:
        committed = read_mo(handle)

    assert translations(committed) == translations(read_mo(compiled))


def test_every_string_in_the_code_is_in_the_catalogue():
    """What `make translations` would extract is already in the committed catalogue."""
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
    method_map = [
        ("service/**.py", "python"),
        ("templates/**.html", "jinja2.ext:babel_extract"),
    ]
    extracted = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords=keywords
        )
    }
    known = set(translations(load_po()))

    missing = sorted(str(m) for m in extracted - known)
    assert extracted
    assert not missing, f"run `make translations`; not in the catalogue: {missing}"
