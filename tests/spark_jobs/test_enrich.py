from __future__ import annotations

import hashlib
import hmac

import pytest

from spark_jobs.enrich import (
    Campaign,
    PageUrl,
    UserAgent,
    campaign_for,
    classify_referrer,
    country_for_ip,
    normalize_event_name,
    parse_page_url,
    parse_user_agent,
    referrer_host,
    salted_hash,
    truncate_ip,
)

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)

# Values frozen from ua-parser 1.0.2 (regexes from ua-parser-builtins 202610).
USER_AGENTS = [
    (
        CHROME_WINDOWS,
        UserAgent("Chrome", "124.0.0.0", "Windows", "10", "desktop", False),
    ),
    (
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4.1 Safari/605.1.15"
        ),
        UserAgent("Safari", "17.4.1", "Mac OS X", "10.15.7", "desktop", False),
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        UserAgent("Firefox", "125.0", "Ubuntu", None, "desktop", False),
    ),
    (
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80"
        ),
        UserAgent("Edge", "124.0.2478.80", "Windows", "10", "desktop", False),
    ),
    (
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36"
        ),
        UserAgent("Chrome", "124.0.0.0", "Chrome OS", "14541.0.0", "desktop", False),
    ),
    (
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4.1 Mobile/15E148 Safari/604.1"
        ),
        UserAgent("Mobile Safari", "17.4.1", "iOS", "17.4.1", "mobile", False),
    ),
    (
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/16.6 Mobile/15E148 Safari/604.1"
        ),
        UserAgent("Mobile Safari", "16.6", "iOS", "16.6", "tablet", False),
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.6367.82 Mobile Safari/537.36"
        ),
        UserAgent("Chrome Mobile", "124.0.6367.82", "Android", "14", "mobile", False),
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.6367.82 Safari/537.36"
        ),
        UserAgent("Chrome", "124.0.6367.82", "Android", "13", "tablet", False),
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Silk/124.2.1 like Chrome/124.0.6367.82 Safari/537.36"
        ),
        UserAgent("Amazon Silk", "124.2.1", "Android", "11", "tablet", False),
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36"
        ),
        UserAgent("Samsung Internet", "24.0", "Android", "13", "mobile", False),
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        UserAgent("Googlebot", "2.1", None, None, "bot", True),
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        UserAgent("bingbot", "2.0", None, None, "bot", True),
    ),
    ("curl/8.5.0", UserAgent("curl", "8.5.0", None, None, "bot", True)),
    # ua-parser drops the patch of python-requests and the last part of HeadlessChrome's version.
    ("python-requests/2.31.0", UserAgent("Python Requests", "2.31", None, None, "bot", True)),
    (
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/124.0.6367.60 Safari/537.36"
        ),
        UserAgent("HeadlessChrome", "124.0.6367", "Linux", None, "bot", True),
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 9; CUBOT_X19) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36"
        ),
        UserAgent("Chrome Mobile", "120.0.0.0", "Android", "9", "mobile", False),
    ),
    ("lorem ipsum", UserAgent(None, None, None, None, "other", False)),
    ("", UserAgent(None, None, None, None, "other", False)),
    (None, UserAgent(None, None, None, None, "other", False)),
]


@pytest.mark.parametrize(("user_agent", "expected"), USER_AGENTS)
def test_parse_user_agent(user_agent: str | None, expected: UserAgent) -> None:
    assert parse_user_agent(user_agent) == expected


def test_configured_bot_pattern() -> None:
    checker = "Mozilla/5.0 (X11; Linux x86_64) AcmeStatusChecker/3.1 Chrome/124.0.0.0 Safari/537.36"
    assert parse_user_agent(checker).is_bot is False
    assert parse_user_agent(checker, bot_patterns=[r"acmestatus\w+/\d"]) == UserAgent(
        "Chrome", "124.0.0.0", "Linux", None, "bot", True
    )
    assert parse_user_agent(CHROME_WINDOWS, bot_patterns=[r"acmestatus"]).is_bot is False


def test_invalid_bot_pattern_names_the_pattern() -> None:
    with pytest.raises(ValueError, match=r"invalid bot pattern '\(unclosed'"):
        parse_user_agent(CHROME_WINDOWS, bot_patterns=["(unclosed"])


def test_many_distinct_user_agents() -> None:
    user_agents = [CHROME_WINDOWS.replace("124.0.0.0", f"{100 + i // 100}.0.{i}.0") for i in range(1000)]
    parsed = [parse_user_agent(ua) for ua in user_agents]
    assert {p.device_type for p in parsed} == {"desktop"}
    assert parsed[999].browser_version == "109.0.999.0"


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("8.8.8.8", "US"),
        ("81.2.69.142", "GB"),
        ("85.214.132.117", "DE"),
        ("133.242.0.1", "JP"),
        ("2001:4860:4860::8888", "US"),
        ("::ffff:8.8.8.8", "US"),
        (" 8.8.8.8 ", "US"),
        ("10.0.0.1", None),
        ("192.168.1.1", None),
        ("127.0.0.1", None),
        ("::1", None),
        ("2001:db8::1", None),
        ("8.8.8.8:443", None),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_country_for_ip(ip: str | None, country: str | None) -> None:
    assert country_for_ip(ip) == country


@pytest.mark.parametrize(
    ("ip", "truncated"),
    [
        ("81.2.69.142", "81.2.69.0"),
        ("2001:4860:4860::8888", "2001:4860:4860::"),
        ("2a00:1450:4001:81c::200e", "2a00:1450:4001::"),
        ("::ffff:81.2.69.142", "81.2.69.0"),
        ("garbage", None),
        ("", None),
        (None, None),
    ],
)
def test_truncate_ip(ip: str | None, truncated: str | None) -> None:
    assert truncate_ip(ip) == truncated


def test_salted_hash() -> None:
    digest = salted_hash("user-42", "pepper")
    assert digest == hmac.new(b"pepper", b"user-42", hashlib.sha256).hexdigest()
    assert len(digest) == 64
    assert salted_hash("user-42", "pepper") == digest
    assert salted_hash("user-42", "paprika") != digest
    assert salted_hash("user-43", "pepper") != digest
    assert salted_hash(None, "pepper") is None
    with pytest.raises(ValueError, match="non-empty salt"):
        salted_hash("user-42", "")


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("Order Completed", "Order Completed"),
        ("order_completed", "Order Completed"),
        ("Order completed", "Order Completed"),
        (" ORDER  COMPLETED ", "Order Completed"),
        ("order-completed", "Order Completed"),
        ("order__completed\t", "Order Completed"),
        ("Signed Up", "Signed Up"),
        ("step2_viewed", "Step2 Viewed"),
        ("API called", "Api Called"),
        ("orderCompleted", "Ordercompleted"),
        ("  ", None),
        ("_-_", "_-_"),  # the collector accepts it: kept as sent, so bronze never holds a track without a name
        ("", None),
        (None, None),
    ],
)
def test_normalize_event_name(name: str | None, normalized: str | None) -> None:
    assert normalize_event_name(name) == normalized


def test_parse_page_url() -> None:
    url = (
        "https://WWW.Example.com:8443/pricing/plans?utm_source=newsletter&UTM_MEDIUM=email"
        "&utm_campaign=spring%20sale&utm_term=&utm_content=hero&fbclid=abc&gclid=xyz#faq"
    )
    assert parse_page_url(url) == PageUrl(
        host="example.com",
        path="/pricing/plans",
        query=(
            "utm_source=newsletter&UTM_MEDIUM=email&utm_campaign=spring%20sale&utm_term="
            "&utm_content=hero&fbclid=abc&gclid=xyz"
        ),
        utm_source="newsletter",
        utm_medium="email",
        utm_campaign="spring sale",
        utm_term=None,
        utm_content="hero",
        click_id="gclid",
    )


NO_PAGE = PageUrl(None, None, None, None, None, None, None, None, None)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://shop.example.com", PageUrl("shop.example.com", "/", None, *(None,) * 6)),
        (
            "https://example.com/?li_fat_id=1",
            PageUrl("example.com", "/", "li_fat_id=1", *(None,) * 5, "li_fat_id"),
        ),
        ("/docs?x=1", PageUrl(None, "/docs", "x=1", *(None,) * 6)),
        ("not a url", PageUrl(None, "not a url", None, *(None,) * 6)),
        ("http://[::1", NO_PAGE),
        ("https://%%%/?utm_source=%ZZ", PageUrl("%%%", "/", "utm_source=%ZZ", "%ZZ", *(None,) * 5)),
        ("   ", NO_PAGE),
        ("", NO_PAGE),
        (None, NO_PAGE),
    ],
)
def test_parse_page_url_never_raises(url: str | None, expected: PageUrl) -> None:
    assert parse_page_url(url) == expected


def test_campaign_context_wins_field_by_field() -> None:
    page = parse_page_url(
        "https://example.com/?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=shoes"
    )
    context = {"source": "newsletter", "medium": " ", "name": "spring", "content": "hero", "extra": "x"}
    assert campaign_for(context, page) == Campaign(
        source="newsletter", medium="cpc", name="spring", term="shoes", content="hero"
    )
    assert campaign_for(None, page) == Campaign("google", "cpc", "brand", "shoes", None)
    assert campaign_for({"medium": "email"}, NO_PAGE) == Campaign(None, "email", None, None, None)
    assert campaign_for({}, NO_PAGE) == Campaign(None, None, None, None, None)


@pytest.mark.parametrize(
    ("referrer", "host"),
    [
        ("https://www.Google.co.uk/search?q=x", "google.co.uk"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("https://t.co/abc", "t.co"),
        ("not a url", None),
        ("http://[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_referrer_host(referrer: str | None, host: str | None) -> None:
    assert referrer_host(referrer) == host


@pytest.mark.parametrize(
    ("referrer", "page_host", "medium", "click_id", "expected"),
    [
        # paid wins over everything
        ("https://www.google.com/", "example.com", "cpc", None, "paid"),
        ("https://mail.google.com/", "example.com", "email", "gclid", "paid"),
        (None, "example.com", "Paid Social", None, "paid"),
        ("https://example.com/pricing", "example.com", None, "fbclid", "paid"),
        # email: medium or webmail host, before search/social
        ("https://www.google.com/", "example.com", "E-Mail", None, "email"),
        (None, "example.com", "newsletter", None, "email"),
        ("https://mail.google.com/mail/u/0/", "example.com", None, None, "email"),
        ("https://outlook.live.com/", "example.com", None, None, "email"),
        ("android-app://com.google.android.gm/", "example.com", None, None, "email"),
        # social
        ("https://t.co/xyz", "example.com", None, None, "social"),
        ("https://l.facebook.com/l.php?u=x", "example.com", None, None, "social"),
        ("https://news.ycombinator.com/item?id=1", "example.com", None, None, "social"),
        ("https://www.pinterest.co.uk/pin/1", "example.com", None, None, "social"),
        (None, "example.com", "social", None, "social"),
        # search
        ("https://www.google.co.uk/", "example.com", None, None, "search"),
        ("https://www.google.de/", "example.com", None, None, "search"),
        ("https://duckduckgo.com/", "example.com", None, None, "search"),
        ("https://search.yahoo.co.jp/search?p=x", "example.com", None, None, "search"),
        ("https://ecosia.org/", "example.com", "organic", None, "search"),
        # internal
        ("https://www.example.com/pricing", "example.com", None, None, "internal"),
        ("https://example.com/", "WWW.EXAMPLE.COM", None, None, "internal"),
        ("https://blog.example.com/post", "app.example.com", None, None, "internal"),
        ("https://blog.example.co.uk/", "shop.example.co.uk", None, None, "internal"),
        ("https://other.co.uk/", "example.co.uk", None, None, "other"),
        ("http://192.168.0.1/", "10.0.0.1", None, None, "other"),
        ("http://10.0.0.1:8080/", "10.0.0.1", None, None, "internal"),
        # direct
        (None, "example.com", None, None, "direct"),
        ("", "example.com", None, None, "direct"),
        (None, None, None, None, "direct"),
        # other
        ("https://someblog.net/post", "example.com", None, None, "other"),
        ("https://googleblog.net/", "example.com", None, None, "other"),
        ("https://notx.com/", "example.com", None, None, "other"),
        ("not a url", "example.com", None, None, "other"),
        ("https://example.com/", None, None, None, "other"),
    ],
)
def test_classify_referrer(
    referrer: str | None, page_host: str | None, medium: str | None, click_id: str | None, expected: str
) -> None:
    assert classify_referrer(referrer, page_host, medium, click_id) == expected
