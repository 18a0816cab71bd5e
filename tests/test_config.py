"""Config: Django's defaults where Django has the setting, and every bad value or
combination refused when the config is built, naming the setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from sessionary import Config, ConfigError, SessionManager, SessionMiddleware, WSGISessionMiddleware

django_settings = pytest.importorskip("django.conf.global_settings")

DJANGO_NAMES = {
    "cookie_name": "SESSION_COOKIE_NAME",
    "cookie_age": "SESSION_COOKIE_AGE",
    "cookie_domain": "SESSION_COOKIE_DOMAIN",
    "cookie_path": "SESSION_COOKIE_PATH",
    "cookie_httponly": "SESSION_COOKIE_HTTPONLY",
    "cookie_samesite": "SESSION_COOKIE_SAMESITE",
    "expire_at_browser_close": "SESSION_EXPIRE_AT_BROWSER_CLOSE",
    "save_every_request": "SESSION_SAVE_EVERY_REQUEST",
}


@pytest.mark.parametrize("setting", sorted(DJANGO_NAMES))
def test_defaults_equal_djangos(setting: str) -> None:
    assert getattr(Config(), setting) == getattr(django_settings, DJANGO_NAMES[setting])


def test_secure_by_default_where_django_is_not() -> None:
    """The one deliberate difference: Django's SESSION_COOKIE_SECURE defaults to False."""
    assert django_settings.SESSION_COOKIE_SECURE is False
    assert Config().cookie_secure is True


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"cookie_samesite": "None", "cookie_secure": False}, "cookie_samesite", "requires cookie_secure=True"),
    ({"cookie_samesite": "none", "cookie_secure": False}, "cookie_samesite", "requires cookie_secure=True"),
    ({"cookie_samesite": "Relaxed"}, "cookie_samesite", "is not one of"),
    ({"cookie_samesite": ""}, "cookie_samesite", "is not one of"),
    ({"cookie_age": -1}, "cookie_age", "0 or more"),
    ({"cookie_age": 1.5}, "cookie_age", "whole number"),
    ({"cookie_age": "3600"}, "cookie_age", "whole number"),
    ({"cookie_age": True}, "cookie_age", "whole number"),
    ({"cookie_age": None}, "cookie_age", "whole number"),
    ({"cookie_host_prefix": True, "cookie_domain": "example.com"}, "cookie_host_prefix", "cookie_domain"),
    ({"cookie_host_prefix": True, "cookie_path": "/app/"}, "cookie_host_prefix", "cookie_path='/'"),
    ({"cookie_host_prefix": True, "cookie_secure": False}, "cookie_host_prefix", "cookie_secure=True"),
    ({"cookie_name": "__Host-sid", "cookie_secure": False}, "cookie_name", "cookie_secure=True"),
    ({"cookie_name": "__Host-sid", "cookie_domain": "example.com"}, "cookie_name", "cookie_domain"),
    ({"cookie_name": "__Secure-sid", "cookie_secure": False}, "cookie_name", "cookie_secure=True"),
    ({"cookie_name": ""}, "cookie_name", "not a valid cookie name"),
    ({"cookie_name": "session id"}, "cookie_name", "not a valid cookie name"),
    ({"cookie_name": "sid;path=/"}, "cookie_name", "not a valid cookie name"),
    ({"cookie_name": "sid=1"}, "cookie_name", "not a valid cookie name"),
    ({"cookie_name": "sïd"}, "cookie_name", "not a valid cookie name"),
    ({"cookie_name": "a,b"}, "cookie_name", "not a valid cookie name"),
    ({"cookie_name": None}, "cookie_name", "not a valid cookie name"),
    ({"cookie_path": "app"}, "cookie_path", "must start with '/'"),
    ({"cookie_path": "/a;b"}, "cookie_path", "without ';'"),
    ({"cookie_path": "/é"}, "cookie_path", "printable ASCII"),
    ({"cookie_path": None}, "cookie_path", "must start with '/'"),
    ({"cookie_domain": ""}, "cookie_domain", "not a valid cookie domain"),
    ({"cookie_domain": "ex ample.com"}, "cookie_domain", "not a valid cookie domain"),
    ({"cookie_domain": "example.com;x"}, "cookie_domain", "not a valid cookie domain"),
    ({"idle_timeout": 0}, "idle_timeout", "above 0"),
    ({"idle_timeout": -5}, "idle_timeout", "above 0"),
    ({"absolute_timeout": 0}, "absolute_timeout", "above 0"),
    ({"renewal_timeout": 0}, "renewal_timeout", "above 0"),
    ({"browser_close_timeout": -1}, "browser_close_timeout", "above 0"),
    ({"idle_timeout": 2.5}, "idle_timeout", "whole number"),
    ({"renewal_timeout": 30, "renewal_grace": 30}, "renewal_grace", "shorter than renewal_timeout"),
    ({"renewal_timeout": 30, "renewal_grace": 60}, "renewal_grace", "shorter than renewal_timeout"),
    ({"renewal_grace": -1}, "renewal_grace", "0 or more"),
    ({"touch_fraction": -0.1}, "touch_fraction", "at least 0 and below 1"),
    ({"touch_fraction": 1}, "touch_fraction", "at least 0 and below 1"),
    ({"touch_fraction": 1.5}, "touch_fraction", "at least 0 and below 1"),
    ({"touch_fraction": "0.5"}, "touch_fraction", "at least 0 and below 1"),
    ({"max_sessions_per_user": 0}, "max_sessions_per_user", "above 0"),
    ({"session_limit_policy": "drop"}, "session_limit_policy", "'evict_oldest' or 'refuse'"),
    ({"store_failure_status": 200}, "store_failure_status", "4xx or 5xx"),
    ({"store_failure_status": 600}, "store_failure_status", "4xx or 5xx"),
    ({"store_failure_status": "503"}, "store_failure_status", "4xx or 5xx"),
    ({"max_value_bytes": 0}, "max_value_bytes", "above 0"),
    ({"secret_keys": "one-long-secret-key-string"}, "secret_keys", "one string"),
    ({"secret_keys": ("short",)}, "secret_keys", "at least 16 characters"),
    ({"expire_at_browser_close": "False"}, "expire_at_browser_close", "True or False"),
    ({"save_every_request": 1}, "save_every_request", "True or False"),
    ({"cookie_secure": "yes"}, "cookie_secure", "True or False"),
    ({"cookie_httponly": None}, "cookie_httponly", "True or False"),
    ({"cookie_host_prefix": "on"}, "cookie_host_prefix", "True, False or None"),
]


@pytest.mark.parametrize(
    ("settings", "setting", "message"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_settings_fail_when_built_naming_the_setting(
    settings: dict[str, Any], setting: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        Config(**settings)
    assert raised.value.setting == setting
    assert str(raised.value).startswith(f"{setting}: ")
    assert message in str(raised.value)


@pytest.mark.parametrize(("settings", "setting", "message"), BAD[:6], ids=[b[1] for b in BAD[:6]])
def test_bad_settings_fail_when_the_middleware_is_built(
    tmp_path: Path, settings: dict[str, Any], setting: str, message: str
) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    for build in (
        lambda: SessionManager(store, **settings),
        lambda: SessionMiddleware(lambda *_: None, store, **settings),  # type: ignore[arg-type,return-value]
        lambda: WSGISessionMiddleware(lambda *_: [], store, **settings),  # type: ignore[arg-type]
        lambda: Config().with_changes(**settings),
    ):
        with pytest.raises(ConfigError, match=f"^{setting}: .*{message}"):
            build()


def test_good_values_are_normalized_and_frozen() -> None:
    config = Config(cookie_samesite="strict", secret_keys=["k" * 16, "j" * 16])  # type: ignore[arg-type]
    assert config.cookie_samesite == "Strict"
    assert config.secret_keys == ("k" * 16, "j" * 16)
    assert config.log_secret == b"k" * 16
    assert Config(cookie_samesite=None).cookie_samesite is None
    assert Config(cookie_age=0).cookie_age == 0
    assert Config(renewal_timeout=60, renewal_grace=59).renewal_grace == 59
    assert Config(cookie_host_prefix=True).session_cookie_name == "__Host-sessionid"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.cookie_age = 5  # type: ignore[misc]


def test_unknown_setting_is_named(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cookie_max_age"):
        SessionManager(f"sqlite:///{tmp_path}/s.db", cookie_max_age=5)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", "unknown store URL"),
        ("sqlite://host/file.db", "a SQLite URL has no host"),
        ("sqlite:///", "names no file"),
        ("sqlite:///s.db?synchronous=sometimes", "synchronous='sometimes'"),
        ("sqlite:///s.db?busy_timeout=soon", "busy_timeout='soon' is not a valid int"),
    ],
)
def test_bad_store_urls_fail_naming_the_store(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^store: .*{message}"):
        SessionManager(url)
