"""canonicalize_url: one spelling per resource, tracking removed, meaning kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.errors import PermanentError
from workers.fetching.urls import canonicalize_url, host_of, is_tracking_param


def test_scheme_and_host_are_lower_cased() -> None:
    assert canonicalize_url("HTTPS://News.Example.COM/Story") == "https://news.example.com/Story"


def test_default_ports_are_dropped_and_others_kept() -> None:
    assert canonicalize_url("http://example.com:80/a") == "http://example.com/a"
    assert canonicalize_url("https://example.com:443/a") == "https://example.com/a"
    assert canonicalize_url("https://example.com:8443/a") == "https://example.com:8443/a"


def test_fragment_is_dropped() -> None:
    assert canonicalize_url("https://example.com/a#comments") == "https://example.com/a"


def test_tracking_parameters_are_dropped() -> None:
    url = "https://example.com/a?utm_source=rss&utm_medium=feed&fbclid=X&gclid=Y&mc_cid=Z&id=7"
    assert canonicalize_url(url) == "https://example.com/a?id=7"


def test_meaningful_parameters_are_kept_and_sorted_by_name() -> None:
    assert (
        canonicalize_url("https://example.com/a?page=2&id=7") == "https://example.com/a?id=7&page=2"
    )


def test_repeated_parameters_keep_their_relative_order() -> None:
    assert canonicalize_url("https://e.com/?b=2&a=x&b=1") == "https://e.com/?a=x&b=2&b=1"


def test_empty_path_becomes_slash_and_empty_query_is_dropped() -> None:
    assert canonicalize_url("https://example.com?") == "https://example.com/"


def test_dot_segments_are_removed() -> None:
    assert canonicalize_url("https://e.com/a/./b/../c/") == "https://e.com/a/c/"


def test_percent_escapes_are_normalised() -> None:
    # Unreserved characters decoded, other escapes upper-cased, raw spaces and non-ASCII escaped.
    assert (
        canonicalize_url("https://e.com/%7euser/a%2fb c/é")
        == "https://e.com/~user/a%2Fb%20c/%C3%A9"
    )


def test_international_host_is_idna_encoded() -> None:
    assert canonicalize_url("https://bücher.de/x") == "https://xn--bcher-kva.de/x"


def test_user_info_and_trailing_host_dot_are_dropped() -> None:
    assert canonicalize_url("https://user:pw@example.com./a") == "https://example.com/a"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "ftp://example.com/a",
        "javascript:alert(1)",
        "/relative/path",
        "https://",
        "http://exa mple.com/",
        "https://e.com:99999/",
    ],
)
def test_unusable_input_raises_bad_url(bad: str) -> None:
    with pytest.raises(PermanentError) as err:
        canonicalize_url(bad)
    assert err.value.reason == "bad_url"


def test_tracking_families_are_recognised_case_insensitively() -> None:
    assert is_tracking_param("UTM_Campaign")
    assert is_tracking_param("fbclid")
    assert not is_tracking_param("id")
    assert not is_tracking_param("page")


def test_host_of_returns_the_lower_case_host() -> None:
    assert host_of("https://WWW.Example.com:8080/a") == "www.example.com"


_segments = st.text(alphabet="abcXYZ019-._~%/ é?&=#+", max_size=30)


@given(
    host=st.sampled_from(["example.com", "EXAMPLE.org:8080", "news.example.co.uk"]), rest=_segments
)
def test_canonicalisation_is_idempotent(host: str, rest: str) -> None:
    once = canonicalize_url(f"https://{host}/{rest}")
    assert canonicalize_url(once) == once
