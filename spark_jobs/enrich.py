"""Enrichment of landed events: user agent, geo, IP truncation, hashing, event names, page URL, campaign
and referrer class.

Pure functions over *distinct values*: the compaction job gathers the distinct user agents, IPs, event names
and referrer tuples, calls these on the executors (in Arrow batches) and joins the results, so nothing here
runs as a per-row UDF and no distinct value passes through the driver. Nothing raises on malformed input (garbage becomes ``None``),
except a misconfigured salt or bot pattern, which the job should fail on.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import iptocc
import ua_parser

# ---------------------------------------------------------------------------------------------------------
# User agent


@dataclass(frozen=True)
class UserAgent:
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    device_type: str  # "desktop", "mobile", "tablet", "bot" or "other"
    is_bot: bool


# Substrings that mark automated clients ua-parser does not flag as "Spider". "cubot" is a phone brand
# whose UAs contain "bot", hence the lookbehind.
_BUILTIN_BOT_PATTERN = (
    r"(?<!cu)bot|crawl|spider|slurp|headless|python-requests|python-urllib|aiohttp|httpx|go-http-client"
    r"|okhttp|java/|libwww|curl|wget|httpclient|axios|node-fetch|scrapy|phantomjs|selenium|puppeteer"
    r"|playwright|lighthouse|facebookexternalhit|monitor|pingdom|uptime"
)
_TABLET_PATTERN = re.compile(r"ipad|tablet|kindle|silk|playbook|nexus (7|9|10)", re.IGNORECASE)
_MOBILE_PATTERN = re.compile(r"mobi|iphone|ipod|phone", re.IGNORECASE)
_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Symbian OS"}
_DESKTOP_OS = {
    "Windows", "Mac OS X", "Linux", "Ubuntu", "Debian", "Fedora", "Red Hat", "SUSE", "Linux Mint",
    "Arch Linux", "Chrome OS", "FreeBSD", "OpenBSD", "NetBSD", "Solaris",
}


def parse_user_agent(user_agent: str | None, bot_patterns: Sequence[str] = ()) -> UserAgent:
    """Browser, OS, device type and bot flag of a user agent string.

    ``bot_patterns`` are extra regular expressions (matched case-insensitively anywhere in the string)
    that mark a client as a bot, e.g. the site's own uptime checker.
    """
    return _parse_user_agent(user_agent or "", tuple(bot_patterns))


@functools.lru_cache(maxsize=1 << 16)
def _parse_user_agent(user_agent: str, bot_patterns: tuple[str, ...]) -> UserAgent:
    if not user_agent.strip():
        return UserAgent(None, None, None, None, device_type="other", is_bot=False)
    result = ua_parser.parse(user_agent)
    browser, os_, device = result.user_agent, result.os, result.device
    is_bot = (device is not None and device.family == "Spider") or bool(
        bot_regex(bot_patterns).search(user_agent)
    )
    os_family = os_.family if os_ else None
    return UserAgent(
        browser=browser.family if browser else None,
        browser_version=_version(browser),
        os=os_family,
        os_version=_version(os_),
        device_type="bot" if is_bot else _device_type(user_agent, os_family, device),
        is_bot=is_bot,
    )


@functools.lru_cache(maxsize=16)
def bot_regex(extra_patterns: tuple[str, ...]) -> re.Pattern[str]:
    """The built-in bot pattern and ``extra_patterns``, as one regular expression; a ValueError names an invalid
    extra pattern."""
    for pattern in extra_patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"invalid bot pattern {pattern!r}: {error}; fix or remove it") from None
    return re.compile("|".join((_BUILTIN_BOT_PATTERN, *(f"(?:{p})" for p in extra_patterns))), re.IGNORECASE)


def _version(parsed: ua_parser.UserAgent | ua_parser.OS | None) -> str | None:
    if parsed is None:
        return None
    parts = [parsed.major, parsed.minor, parsed.patch, parsed.patch_minor]
    return ".".join(p for p in parts if p) or None


def _device_type(user_agent: str, os_family: str | None, device: ua_parser.Device | None) -> str:
    # ua-parser has no device class, only family/brand/model (and no device at all for most desktops),
    # so the class comes from those plus the UA tokens browsers use to ask for mobile layouts.
    device_text = f"{device.family} {device.brand}" if device else ""
    if _TABLET_PATTERN.search(device_text) or _TABLET_PATTERN.search(user_agent):
        return "tablet"
    if os_family == "Android" and "mobile" not in user_agent.lower():
        return "tablet"  # Chrome on Android tablets drops the "Mobile" token
    if os_family in _MOBILE_OS or _MOBILE_PATTERN.search(user_agent):
        return "mobile"
    if os_family in _DESKTOP_OS:
        return "desktop"
    return "other"


# ---------------------------------------------------------------------------------------------------------
# IP addresses


def _ip_address(ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # "::ffff:8.8.8.8" is an IPv4 client seen by a dual-stack server
    return address


def country_for_ip(ip: str | None) -> str | None:
    """ISO 3166 alpha-2 country of an IPv4/IPv6 address, from the offline registry data in iptocc.

    ``None`` for private, reserved, invalid and unallocated addresses. The data says where the block
    is registered, not where the user sits (1.1.1.1 is AU, anycast DNS resolvers are US).
    """
    address = _ip_address(ip)
    if address is None or not address.is_global:
        return None
    return iptocc.country_code(str(address))


def truncate_ip(ip: str | None) -> str | None:
    """Anonymised IP: IPv4 to its /24 (last octet 0), IPv6 to its /48; ``None`` if not an IP.

    IPv4-mapped IPv6 ("::ffff:1.2.3.4") is treated as the IPv4 address it carries.
    """
    address = _ip_address(ip)
    if address is None:
        return None
    prefix = 24 if address.version == 4 else 48
    host_bits = address.max_prefixlen - prefix
    return str(type(address)(int(address) >> host_bits << host_bits))


def salted_hash(value: str | None, salt: str) -> str | None:
    """Hex HMAC-SHA256 of ``value`` keyed with ``salt`` (pseudonymous, stable for one salt)."""
    if not salt:
        raise ValueError("salted_hash needs a non-empty salt; configure the PII hashing salt")
    if value is None:
        return None
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Event names

_EVENT_NAME_SEPARATORS = re.compile(r"[\s_-]+")


def normalize_event_name(name: str | None) -> str | None:
    """One canonical Title Case form per event: "order_completed", " ORDER  COMPLETED " -> "Order Completed".

    Spaces, underscores and hyphens separate words; each word is capitalised (so acronyms become "Api").
    camelCase is left alone: "orderCompleted" becomes "Ordercompleted", not "Order Completed". A name of
    separators only ("_-_", which the collector accepts) stays as sent: a null name would fail bronze's
    blocking `required_fields` and stop the whole warehouse over one client's odd event.
    """
    if name is None:
        return None
    words = _EVENT_NAME_SEPARATORS.split(name)
    return " ".join(word.capitalize() for word in words if word) or name.strip() or None


# ---------------------------------------------------------------------------------------------------------
# Page URL and campaign

UTM_FIELDS = ("source", "medium", "campaign", "term", "content")
# Ad networks' click ids, in the order they are reported when several are present.
CLICK_ID_PARAMS = ("gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "ttclid", "li_fat_id", "twclid")


@dataclass(frozen=True)
class PageUrl:
    host: str | None
    path: str | None
    query: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    click_id: str | None  # the name of the click-id parameter ("gclid", ...), not its value


_NO_PAGE = PageUrl(*(None,) * 9)


def parse_page_url(url: str | None) -> PageUrl:
    """Host (lowercase, without "www."), path ("/" when empty), query, UTM parameters and click id."""
    if not url or not url.strip():
        return _NO_PAGE
    try:
        parts = urlsplit(url.strip())
        host = _clean_host(parts.hostname)
    except ValueError:  # e.g. "http://[::1" (unbalanced IPv6 bracket)
        return _NO_PAGE
    params = {key.lower(): values for key, values in parse_qs(parts.query).items()}
    utm = {field: _clean(params.get(f"utm_{field}", [None])[0]) for field in UTM_FIELDS}
    return PageUrl(
        host=host,
        path=parts.path or "/",
        query=parts.query or None,
        utm_source=utm["source"],
        utm_medium=utm["medium"],
        utm_campaign=utm["campaign"],
        utm_term=utm["term"],
        utm_content=utm["content"],
        click_id=next((name for name in CLICK_ID_PARAMS if name in params), None),
    )


def referrer_host(referrer: str | None) -> str | None:
    """Host of a referrer URL, lowercase and without "www."; ``None`` when absent or not a URL."""
    if not referrer or not referrer.strip():
        return None
    try:
        return _clean_host(urlsplit(referrer.strip()).hostname)
    except ValueError:
        return None


def _clean_host(host: str | None) -> str | None:
    if not host:
        return None
    host = host.rstrip(".")
    return host.removeprefix("www.") or None


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class Campaign:
    source: str | None
    medium: str | None
    name: str | None
    term: str | None
    content: str | None


def campaign_for(context_campaign: Mapping | None, page: PageUrl) -> Campaign:
    """Campaign of an event: Segment's ``context.campaign`` wins field by field, else the page's utm_*."""
    context = context_campaign or {}

    def pick(key: str, from_url: str | None) -> str | None:
        return _clean(context.get(key)) or from_url

    return Campaign(
        source=pick("source", page.utm_source),
        medium=pick("medium", page.utm_medium),
        name=pick("name", page.utm_campaign),
        term=pick("term", page.utm_term),
        content=pick("content", page.utm_content),
    )


# ---------------------------------------------------------------------------------------------------------
# Referrer class


@dataclass(frozen=True)
class _ReferrerLists:
    paid_mediums: frozenset[str]
    email_mediums: frozenset[str]
    social_mediums: frozenset[str]
    email_domains: tuple[str, ...]
    social_domains: tuple[str, ...]
    social_brands: frozenset[str]
    search_domains: tuple[str, ...]
    search_brands: frozenset[str]
    two_level_suffixes: frozenset[str]


@functools.lru_cache(maxsize=1)
def _referrer_lists() -> _ReferrerLists:
    raw = json.loads(resources.files(__package__).joinpath("referrers.json").read_text(encoding="utf-8"))
    return _ReferrerLists(
        paid_mediums=frozenset(raw["paid_mediums"]),
        email_mediums=frozenset(raw["email_mediums"]),
        social_mediums=frozenset(raw["social_mediums"]),
        email_domains=tuple(raw["email"]["domains"]),
        social_domains=tuple(raw["social"]["domains"]),
        social_brands=frozenset(raw["social"]["brands"]),
        search_domains=tuple(raw["search"]["domains"]),
        search_brands=frozenset(raw["search"]["brands"]),
        two_level_suffixes=frozenset(raw["two_level_suffixes"]),
    )


def _registrable_domain(host: str, lists: _ReferrerLists) -> str:
    if ":" in host or host.replace(".", "").isdigit():
        return host  # an IP address has no parent domain
    labels = host.split(".")
    suffix_labels = 2 if ".".join(labels[-2:]) in lists.two_level_suffixes else 1
    return ".".join(labels[-suffix_labels - 1 :])


def _in_domains(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _has_brand(host: str, brands: frozenset[str], lists: _ReferrerLists) -> bool:
    return _registrable_domain(host, lists).split(".")[0] in brands


def _normalize_medium(medium: str | None) -> str | None:
    return re.sub(r"[\s-]+", "_", medium.strip().lower()) if medium else None


def classify_referrer(
    referrer: str | None, page_host: str | None, campaign_medium: str | None, click_id: str | None
) -> str:
    """Traffic class of a referrer URL: see :func:`classify_referrer_host`."""
    present = bool(referrer and referrer.strip())
    return classify_referrer_host(referrer_host(referrer), present, page_host, campaign_medium, click_id)


def classify_referrer_host(
    host: str | None, has_referrer: bool, page_host: str | None, campaign_medium: str | None, click_id: str | None
) -> str:
    """Traffic class: "paid", "email", "social", "search", "internal", "direct" or "other".

    Decided in that order (so a Google referrer with utm_medium=cpc is paid); the lists and matching
    rules are documented in referrers.json. ``host`` is the referrer's host (lowercase, without "www."),
    ``has_referrer`` whether there was a referrer at all (one without a readable host is "other").
    """
    lists = _referrer_lists()
    medium = _normalize_medium(campaign_medium)
    host = _clean_host(host.lower()) if host else None
    if click_id or medium in lists.paid_mediums:
        return "paid"
    if medium in lists.email_mediums or (host and _in_domains(host, lists.email_domains)):
        return "email"
    if medium in lists.social_mediums or (
        host and (_in_domains(host, lists.social_domains) or _has_brand(host, lists.social_brands, lists))
    ):
        return "social"
    if host and (_in_domains(host, lists.search_domains) or _has_brand(host, lists.search_brands, lists)):
        return "search"
    page = _clean_host(page_host.lower()) if page_host else None
    if host and page and (
        host == page or _registrable_domain(host, lists) == _registrable_domain(page, lists)
    ):
        return "internal"
    if not has_referrer:
        return "direct"
    return "other"
