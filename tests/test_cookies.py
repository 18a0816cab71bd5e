"""Reading the ``Cookie`` header and writing ``Set-Cookie`` and ``Vary``, checked against
the strings Django's own ``HttpResponse.set_cookie`` / ``delete_cookie`` produce."""

from __future__ import annotations

import math
from email.utils import formatdate
from typing import Any

import pytest

from sessionary import Config
from sessionary.cookies import (
    MAX_COOKIE_BYTES,
    add_vary_cookie,
    cookie_values,
    delete_cookie,
    session_token,
    set_cookie,
    starlette_spelling,
    without_secure,
)
from sessionary.lifecycle import Outcome
from sessionary.tokens import is_well_formed

django = pytest.importorskip("django")

from django.conf import settings as django_settings  # noqa: E402
from django.http.cookie import parse_cookie  # noqa: E402

if not django_settings.configured:
    django_settings.configure(USE_TZ=True, SECRET_KEY="cookie-test-key-" + "x" * 40)
    django.setup()

from django.http import HttpResponse  # noqa: E402
from django.utils.cache import patch_vary_headers  # noqa: E402
from django.utils.http import http_date  # noqa: E402

NOW = 1767268800.0  # 2026-01-01 12:00:00 UTC
TOKEN = "Qqp5rxGBmAfNUto_KRZtJl4Mm6jXWMUktWA-2Z7hris"

CONFIGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "insecure-like-django": {"cookie_secure": False},
    "domain-path-none": {"cookie_domain": ".example.com", "cookie_path": "/app/", "cookie_samesite": "None"},
    "no-samesite-no-httponly": {"cookie_samesite": None, "cookie_httponly": False, "cookie_secure": False},
    "strict": {"cookie_samesite": "Strict", "cookie_name": "sid"},
    "host-prefix": {"cookie_host_prefix": True},
}


def django_set_cookie(config: Config, value: str, max_age: int | None) -> str:
    """What Django's SessionMiddleware sends for these settings (its call, verbatim)."""
    response = HttpResponse()
    response.set_cookie(
        config.session_cookie_name,
        value,
        max_age=max_age,
        expires=None if max_age is None else http_date(NOW + max_age),
        domain=config.cookie_domain,
        path=config.cookie_path,
        secure=config.cookie_secure or None,
        httponly=config.cookie_httponly or None,
        samesite=config.cookie_samesite,
    )
    return response.cookies[config.session_cookie_name].OutputString()


@pytest.mark.parametrize("max_age", [1209600, 300, 10, 0, -10, None])
@pytest.mark.parametrize("settings", CONFIGS.values(), ids=CONFIGS.keys())
def test_set_cookie_matches_djangos(settings: dict[str, Any], max_age: int | None) -> None:
    config = Config(**settings)
    assert set_cookie(config, TOKEN, max_age=max_age, now=NOW) == django_set_cookie(config, TOKEN, max_age)


@pytest.mark.parametrize("settings", CONFIGS.values(), ids=CONFIGS.keys())
def test_delete_cookie_matches_djangos_but_keeps_secure(settings: dict[str, Any]) -> None:
    """Django's ``delete_cookie`` adds Secure only for prefixed names or SameSite=None;
    sessionary marks the deletion Secure whenever the cookie was, so an insecure
    response cannot be used to tell which cookies a secure site sets."""
    config = Config(**settings)
    response = HttpResponse()
    response.delete_cookie(
        config.session_cookie_name,
        path=config.cookie_path,
        domain=config.cookie_domain,
        samesite=config.cookie_samesite,
    )
    expected = response.cookies[config.session_cookie_name].OutputString()
    if config.cookie_secure and "Secure" not in expected:
        expected += "; Secure"
    assert delete_cookie(config) == expected


@pytest.mark.parametrize(
    ("header", "values"),
    [
        (None, []),
        ("", []),
        ("sessionid=abc", ["abc"]),
        ("  sessionid = abc  ", ["abc"]),
        ("a=1; sessionid=abc; b=2", ["abc"]),
        ("sessionid=one; sessionid=two;sessionid=three", ["one", "two", "three"]),
        ("xsessionid=1; sessionidx=2; SESSIONID=3", []),
        ("sessionid", []),
        ("sessionid=", [""]),
        ('sessionid="abc"', ["abc"]),
        ('sessionid="', ['"']),
        ('sessionid=""', [""]),
        ("sessionid=a=b", ["a=b"]),
        ("=; ;;sessionid=ok; garbage", ["ok"]),
        # The name once in the header: only the cookie around it is read, and only a
        # cookie of that name counts (not one whose value or name holds it).
        ("a=sessionid; b=2", []),
        ("a=1; xsessionid=2", []),
        ("a=1;sessionid=abc", ["abc"]),
        ("a=1; sessionid = abc ;b=2", ["abc"]),
        ("a=1; sessionid", []),
        ("a=x sessionid=1; b=2", []),
        ("sessionid=a; b=sessionid", ["a"]),
    ],
)
def test_cookie_values(header: str | None, values: list[str]) -> None:
    assert cookie_values(header, "sessionid") == values


_T = "Ab-_" * 10 + "xyz"  # a token's shape: 43 characters of [A-Za-z0-9_-]


@pytest.mark.parametrize(
    "header",
    [
        f"sessionid={_T}",
        f"sessionid={_T}; b=2",
        f"a=1; sessionid={_T}",
        f"a=1; sessionid={_T}; b=2",
        f"a=1;sessionid={_T}",
        f" sessionid={_T}",
        f"sessionid={_T} ",
        f"sessionid={_T}\n",
        f"sessionid = {_T}",
        f'sessionid="{_T}"',
        f"sessionid={_T}x",
        f"sessionid={_T[:-1]}",
        f"sessionid={_T[:-1]}!",
        f"sessionid={_T}; sessionid={_T}",
        f"sessionid={_T};sessionid=other",
        f"a=sessionid; sessionid={_T}",
        f"sessionid={_T}; b=sessionid",
        f"xsessionid={_T}",
        f"a=1; xsessionid={_T}",
        f"a=x; sessionid={_T}x; b=2",
        f"a=1; sessionid={_T};",
        f"a=1; sessionid={_T} ; b=2",
        f"SESSIONID={_T}",
        f"sessionid={_T[:21]}sessionid{_T[:13]}",
        f"sessionid={_T[:21]}sessionid{_T[:13]}; b=2",
        "sessionid=abc",
        "a=1; b=2",
        "",
    ],
)
def test_session_token_is_the_one_well_formed_value_or_none(header: str) -> None:
    """The shortcut answers only where the full parse finds exactly one value, of a
    token's shape, and then gives that value; everything else is left to the parse.
    Django's own parse finds that value too (its middleware takes the shortcut)."""
    values = cookie_values(header, "sessionid")
    token = session_token(header, "sessionid")
    if token is not None:
        assert values == [token]
        assert is_well_formed(token)
        assert parse_cookie(header).get("sessionid") == token


_SIGNED = "eyJ1IjoxfQ.Zm9v-bar_baz=:" + "q" * 20  # a signed-cookie store's value: plain ASCII


@pytest.mark.parametrize(
    "header",
    [
        f"sessionid={_SIGNED}",
        f"sessionid={_SIGNED}; b=2",
        f"a=1; sessionid={_SIGNED}",
        f"a=1; sessionid={_SIGNED};",
        f" sessionid={_SIGNED}",
        f"sessionid={_SIGNED} ",
        f'sessionid="{_SIGNED}"',
        f"sessionid={_SIGNED},x",
        f"sessionid={_SIGNED}\\x",
        "sessionid=a b",
        "sessionid=",
        "sessionid=" + "v" * 4096,
        "sessionid=" + "v" * 4097,
        f"sessionid={_SIGNED}; sessionid=other",
        f"a=sessionid; sessionid={_SIGNED}",
        f"sessionid=\u00e9{_SIGNED}",
        "a=1; b=2",
    ],
)
def test_a_plain_value_is_the_one_value_the_parse_finds_or_none(header: str) -> None:
    """The shortcut for a signed-cookie store's values: answered only where the full
    parse finds that one value, whole and unchanged, within the size limit."""
    value = session_token(header, "sessionid", plain=True)
    if value is not None:
        assert cookie_values(header, "sessionid") == [value]
        assert 0 < len(value) <= MAX_COOKIE_BYTES


def test_a_plain_value_is_answered_for_the_headers_browsers_send() -> None:
    for header in (f"sessionid={_SIGNED}", f"sessionid={_SIGNED}; b=2", f"a=1; sessionid={_SIGNED}"):
        assert session_token(header, "sessionid", plain=True) == _SIGNED
    assert session_token("sessionid=" + "v" * 4097, "sessionid", plain=True) is None
    assert session_token(f"sessionid={_SIGNED}", "sessionid") is None  # not a token's shape


def test_session_token_answers_the_plain_headers_browsers_send() -> None:
    for header in (
        f"sessionid={_T}",
        f"sessionid={_T}; b=2",
        f"a=1; sessionid={_T}",
        f"a=1; sessionid={_T}; b=2",
    ):
        assert session_token(header, "sessionid") == _T
    assert session_token(f"__Host-s.id={_T}", "__Host-s.id") == _T
    assert session_token(f"__Host-sxid={_T}", "__Host-s.id") is None  # the name is not a pattern


@pytest.mark.parametrize(
    "vary", [None, "Accept-Encoding", "cookie", "Accept, Cookie", "*", "Accept-Encoding,Origin"]
)
def test_vary_cookie_matches_djangos(vary: str | None) -> None:
    response = HttpResponse()
    if vary is not None:
        response.headers["Vary"] = vary
    patch_vary_headers(response, ("Cookie",))
    ours = add_vary_cookie(vary)
    assert {item.strip().lower() for item in ours.split(",")} == {
        item.strip().lower() for item in response.headers["Vary"].split(",")
    }


def test_vary_cookie_edge_cases() -> None:
    assert add_vary_cookie("") == "Cookie"  # Django writes ", Cookie" here
    assert add_vary_cookie("Accept-Language, *") == "Accept-Language, *"  # varies on everything already


def test_outcome_merges_vary_and_adds_cache_control_only_with_a_cookie() -> None:
    app_headers = [("Content-Type", "text/plain"), ("Vary", "Accept"), ("vary", "Origin")]
    plain = Outcome(vary_cookie=True).apply(app_headers)
    assert plain == [("Content-Type", "text/plain"), ("Vary", "Accept, Origin, Cookie")]

    with_cookie = Outcome(set_cookie="sessionid=x", vary_cookie=True).apply(app_headers)
    assert ("Set-Cookie", "sessionid=x") in with_cookie
    assert ("Cache-Control", "private, no-store") in with_cookie

    # The app's own caching decision is kept, made private: no-cache alone lets a shared
    # cache store the response (and its Set-Cookie) for revalidation.
    own = Outcome(set_cookie="sessionid=x").apply([("Cache-Control", "no-cache")])
    assert [value for name, value in own if name.lower() == "cache-control"] == ["private, no-cache"]
    public = Outcome(set_cookie="sessionid=x").apply(
        [("cache-control", "public, max-age=600, s-maxage=3600"), ("CDN-Cache-Control", "max-age=60")]
    )
    assert [(n, v) for n, v in public if n.lower() != "set-cookie"] == [
        ("Cache-Control", "private, max-age=600")
    ]

    assert Outcome().apply(app_headers) == app_headers
    assert Outcome(clear_site_data=True).apply([]) == [("Clear-Site-Data", '"cookies"')]


def test_http_date_is_formatdate_for_every_second() -> None:
    """The remembered date is only reused within its own second."""
    from email.utils import formatdate

    from sessionary.cookies import http_date

    moments = [0, 0.999, 1.0, -0.5, 1795336135.2, 1795336135.87, 1795336136.0, 1795336135.5]
    for moment in moments + [moment + 86400 * day for day in range(5) for moment in moments]:
        assert http_date(moment) == formatdate(moment, usegmt=True)


def test_starlette_spelling_of_every_attribute() -> None:
    config = Config(
        cookie_domain=".example.com", cookie_path="/app", cookie_samesite="None", cookie_partitioned=True
    )
    assert starlette_spelling(set_cookie(config, TOKEN, max_age=300, now=NOW)) == (
        f"__Secure-sessionid={TOKEN}; domain=.example.com; expires=Thu, 01 Jan 2026 12:05:00 GMT; "
        "httponly; Max-Age=300; path=/app; samesite=none; secure; partitioned"
    )
    assert starlette_spelling(delete_cookie(Config())) == (
        '__Host-sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; path=/; samesite=lax; secure'
    )
    # The relaxed test-client cookie drops Secure before it is spelled.
    assert starlette_spelling(without_secure(set_cookie(Config(), TOKEN, max_age=None, now=NOW))) == (
        f"__Host-sessionid={TOKEN}; httponly; path=/; samesite=lax"
    )


RAW_OUTCOMES = [
    Outcome(vary_cookie=True),
    Outcome(set_cookie="sessionid=x; Path=/", vary_cookie=True),
    Outcome(set_cookie="sessionid=x; Path=/"),
    Outcome(set_cookie='sessionid=""; Max-Age=0', vary_cookie=True, clear_site_data=True),
    Outcome(vary_cookie=True, expire_cookies=("old",)),
    Outcome(clear_site_data=True),
    Outcome(),
]
RAW_HEADERS = [
    [],
    [("Content-Type", "text/plain"), ("Content-Length", "2")],
    [("Content-Type", "text/plain"), ("Vary", "Accept")],
    [("cache-control", "public, max-age=60"), ("Set-Cookie", "theme=dark")],
    [("CDN-Cache-Control", "max-age=60"), ("X-Other", "\xe9")],
    [("VARY", "Origin"), ("Surrogate-Control", "max-age=5"), ("Cache-Control", "no-cache")],
]


@pytest.mark.parametrize("outcome", RAW_OUTCOMES)
@pytest.mark.parametrize("headers", RAW_HEADERS)
def test_raw_headers_and_additions_are_what_apply_gives(
    outcome: Outcome, headers: list[tuple[str, str]]
) -> None:
    """The shortcuts of the adapters (ASGI's raw headers, appending only what is new)
    give exactly the headers :meth:`Outcome.apply` gives, whatever the app set."""
    expected = outcome.apply(list(headers))
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    assert outcome.apply_raw(raw) == [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in expected
    ]
    added = outcome.additions(name for name, _ in headers)
    if added is not None:
        assert [*headers, *added] == expected
    else:  # only when the app set a header the outcome rewrites
        rewritten = {"vary", "cache-control", "cdn-cache-control", "surrogate-control"}
        assert any(name.lower() in rewritten for name, _ in headers)


def test_starlette_spelling_is_right_for_every_second_and_config() -> None:
    """The spellings kept from one response to the next are never those of another
    second (Expires, Max-Age) or of another config."""
    lax, strict = Config(), Config(cookie_samesite="Strict", cookie_domain="example.com")
    for moment in (NOW, NOW + 0.4, NOW + 1.2, NOW + 86400):
        for config, samesite, domain in ((lax, "lax", ""), (strict, "strict", "; domain=example.com")):
            for age in (300, 299):
                expires = formatdate(math.floor(moment + age), usegmt=True)
                assert starlette_spelling(set_cookie(config, TOKEN, max_age=age, now=moment)) == (
                    f"{config.session_cookie_name}={TOKEN}{domain}; expires={expires}; httponly; "
                    f"Max-Age={age}; path=/; samesite={samesite}; secure"
                )
