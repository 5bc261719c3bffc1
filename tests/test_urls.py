"""Which requests are the app's own, and URLs safe to write down (pure logic)."""

from __future__ import annotations

import pytest

from patrol.core.urls import RequestPolicy, mask_url, site


@pytest.mark.parametrize("host, expected", [
    ("static.bank.com.cn", "bank.com.cn"), ("www.example.com", "example.com"), ("a.b.shop.co.uk", "shop.co.uk"),
    ("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"), ("cdn.jsdelivr.net", "jsdelivr.net"),
])
def test_site_is_the_registrable_domain(host, expected):
    assert site(host) == expected


def test_first_party_is_the_journeys_site_or_a_listed_host_and_ignore_and_block_are_url_globs():
    policy = RequestPolicy.for_journey("https://www.bank.com.cn/app/", first_party=("*.bankcdn.net",),
                                       ignore=("*/telemetry/*",), block=("*://updates.example.org/*",))
    assert policy.is_first_party("https://api.bank.com.cn/v1/x")
    assert policy.is_first_party("https://img.bankcdn.net/logo.png")
    assert not policy.is_first_party("https://fonts.gstatic.com/s/a.woff2")
    assert policy.is_first_party("data:image/png;base64,xx")
    assert policy.counts("https://api.bank.com.cn/v1/x") and not policy.counts("https://api.bank.com.cn/telemetry/e")
    assert policy.is_blocked("https://updates.example.org/check?v=1") and not policy.is_blocked("https://example.org/")
    loopback = RequestPolicy.for_journey("http://127.0.0.1:8800")
    assert loopback.is_first_party("http://127.0.0.1:9999/other-port") and not loopback.is_first_party("http://10.0.0.1/")


def test_token_like_query_values_and_credentials_are_masked():
    url = "https://u:pw@api.x.com/p?access_token=abc&page=2&id=9f8e7d6c5b4a39281726354a&q=hello world"
    masked = mask_url(url)
    assert "abc" not in masked and "pw" not in masked and "9f8e7d6c5b4a39281726354a" not in masked
    assert "page=2" in masked and "q=hello" in masked and masked.startswith("https://***@api.x.com/p?")
    assert mask_url("https://x.com/a?b=1") == "https://x.com/a?b=1"
    assert len(mask_url("https://x.com/" + "a" * 2000)) == 500
