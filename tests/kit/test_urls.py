"""Redirect URL validation (security.md T24; SPEC: https, http://localhost and
http://127.0.0.1 in the sandbox only)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payreq.kit.urls import MAX_URL_LENGTH, has_hidden_characters, normalise_url, redirect_url_problem

BOTH = pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "production"])


def _url_of_length(length: int) -> str:
    prefix = "https://m.example/"
    return prefix + "a" * (length - len(prefix))


# security.md T24, plus the neighbours each case stands for
REFUSED_EVERYWHERE = [
    "http://m.example",
    "http://m.example/return",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "ftp://m.example/return",
    "file:///etc/passwd",
    "//evil.example",
    "//evil.example/return",
    "/return",
    "m.example/return",
    "https:evil.example",
    "https:/evil.example",
    "https:///evil.example",
    "https://",
    "https://m.example@evil.example",
    "https://m.example@evil.example/return",
    "https://user:pass@m.example/",
    "https://:pass@m.example/",
    "https://m.example%40evil.example@evil.example/",
    "https://m.example\\@evil",
    "https://m.example\\evil.example/",
    "https:\\\\evil.example/",
    "https://m.example/\r\nSet-Cookie: a=b",
    "https://m.example/return\r",
    "https://m.example/return\n",
    "https://m.ex\nample/",
    "https://m.example/\x00",
    "https://m.example/\x7f",
    "https://m.example/\tx",
    "https://m.example/ return",
    " https://m.example/return",
    "https://m.example/return ",
    "https://m.example:99999/",
    "https://m.example:port/",
    "https://[::1/",
    # hosts that parse but that no browser follows (the payer, having paid, meets an error page)
    "https://ex%00ample.com/",
    "https://%65xample.com/",
    "https://.",
    "https://a..b/",
    "https://.m.example/",
    "https://-bad-.example/",
    "https://bad-.example/",
    "https://" + "a" * 64 + ".example/",
    "https://m.example:0/",
    _url_of_length(MAX_URL_LENGTH + 1),
    _url_of_length(10_000),
    # http is for the local machine only, and only these two names of it
    "http://localhost.evil.example/",
    "http://127.0.0.1.nip.io/",
    "http://evil.example#@localhost/",
    "http://localhost@evil.example/",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://127.1/",
    "http://2130706433/",
    "http://192.168.1.10/",
]

ACCEPTED_EVERYWHERE = [
    "https://m.example/return",
    "https://m.example",
    "https://m.example/return?order=123&x=%40y#done",
    "https://m.example:8443/return",
    "https://sub.m.example/a/b/c",
    "HTTPS://M.EXAMPLE/return",
    "https://localhost/return",
    "https://127.0.0.1:8443/return",
    "https://m.example/path/with@sign",
    "https://m.example/?next=https://other.example/",
    "https://m.example./return",
    "https://my_shop.m.example/",
    "https://" + "a" * 63 + ".example/",
    "https://[2001:db8::1]/return",
    "https://xn--strae-oqa.example/",
    _url_of_length(MAX_URL_LENGTH),
]

LOCAL_HTTP = [
    "http://localhost/return",
    "http://localhost:3000/return",
    "http://LOCALHOST:3000/return",
    "http://127.0.0.1/return",
    "http://127.0.0.1:8000/return?x=1",
]


@BOTH
@pytest.mark.parametrize("url", REFUSED_EVERYWHERE)
def test_redirect_url_is_refused(url: str, sandbox: bool) -> None:
    problem = redirect_url_problem(url, sandbox=sandbox)
    assert isinstance(problem, str)
    assert problem


@BOTH
@pytest.mark.parametrize("url", ACCEPTED_EVERYWHERE)
def test_https_redirect_url_is_accepted(url: str, sandbox: bool) -> None:
    assert redirect_url_problem(url, sandbox=sandbox) is None


@pytest.mark.parametrize("url", LOCAL_HTTP)
def test_sandbox_accepts_http_localhost(url: str) -> None:
    assert redirect_url_problem(url, sandbox=True) is None


@pytest.mark.parametrize("url", LOCAL_HTTP)
def test_production_refuses_http_localhost_and_says_why(url: str) -> None:
    assert redirect_url_problem(url, sandbox=False) == (
        "may use http://localhost or http://127.0.0.1 only in the sandbox"
    )


def test_plain_http_is_refused_with_must_use_https() -> None:
    assert redirect_url_problem("http://m.example/return", sandbox=True) == "must use https"
    assert redirect_url_problem("http://m.example/return", sandbox=False) == "must use https"


def test_too_long_url_names_the_limit() -> None:
    problem = redirect_url_problem(_url_of_length(MAX_URL_LENGTH + 1), sandbox=False)
    assert problem == "must be at most 2048 characters"


def test_credentials_are_named_as_the_problem() -> None:
    problem = redirect_url_problem("https://m.example@evil.example", sandbox=False)
    assert problem == "must not contain credentials"


# Browsers drop or re-read invisible characters, so a URL that looks like one target
# can lead to another: C1 controls, Unicode whitespace and format characters are
# refused, not only their ASCII cousins.
@BOTH
@pytest.mark.parametrize(
    "url",
    [
        "https://m.example/\x85",
        "https://m.example/\x9b",
        "https://m.example/\u00a0return",
        "https://m.example/\u2028",
        "https://m.example/\u3000",
        "https://m.exam\u200bple/",
        "https://m.example/\u202egnp.exe",
        "https://m.example/\ufeff",
    ],
    ids=["NEL", "CSI", "NBSP", "LINE-SEP", "IDEOGRAPHIC-SPACE", "ZWSP", "RLO", "BOM"],
)
def test_redirect_url_refuses_unicode_controls_and_whitespace(url: str, sandbox: bool) -> None:
    assert redirect_url_problem(url, sandbox=sandbox) is not None


@BOTH
@pytest.mark.parametrize("url", ["https://b\u00fccher.example/kasse", "https://m.example/caf\u00e9?q=\u00fc"])
def test_redirect_url_accepts_visible_non_ascii(url: str, sandbox: bool) -> None:
    assert redirect_url_problem(url, sandbox=sandbox) is None


def _hidden_by_definition(url: str) -> bool:
    return any(ch == "\\" or unicodedata.category(ch)[0] in "CZ" for ch in url)


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_is_judged_as_its_unicode_category_says(code: int) -> None:
    url = f"https://m.example/a{chr(code)}b"
    assert has_hidden_characters(url) is _hidden_by_definition(url)


@given(st.text(max_size=40))
def test_any_text_is_judged_as_its_unicode_categories_say(tail: str) -> None:
    url = "https://m.example/" + tail
    assert has_hidden_characters(url) is _hidden_by_definition(url)


def test_a_normalised_url_is_the_same_from_the_cache_and_an_invalid_one_stays_refused() -> None:
    url = "https://Bücher.example/zurück?q=ä"
    first, second = normalise_url(url), normalise_url(url)
    assert first == second == "https://xn--bcher-kva.example/zur%C3%BCck?q=%C3%A4"
    for _ in range(2):
        with pytest.raises(ValueError, match="not a URL that can be normalised"):
            normalise_url("https://xn--a.example/")


def test_a_url_too_long_once_percent_encoded_says_so_not_that_its_host_is_wrong() -> None:
    url = "https://m.example/" + "\u00e4" * 700  # 718 characters, 4,218 once encoded
    assert redirect_url_problem(url, sandbox=False) == (
        f"must be at most {MAX_URL_LENGTH} characters once percent-encoded"
    )
