"""The vocabulary of the simulated product: countries and their IP blocks, devices, pages, products.

The IP blocks are real allocations (checked with ``iptocc``) so that the lake's geo enrichment resolves
each simulated visitor to the country it was generated in. Everything here is constant data.
"""

from __future__ import annotations

# country, share of visitors, IP /24 prefixes, locale, IANA timezone, UTC offset (hours), currency
COUNTRIES: tuple[tuple[str, float, tuple[str, ...], str, str, int, str], ...] = (
    ("US", 0.34, ("73.0.0", "8.8.8"), "en-US", "America/New_York", -5, "USD"),
    ("GB", 0.10, ("81.2.69", "86.0.0"), "en-GB", "Europe/London", 0, "GBP"),
    ("DE", 0.09, ("80.187.0", "91.64.0"), "de-DE", "Europe/Berlin", 1, "EUR"),
    ("FR", 0.07, ("62.210.0", "90.0.0"), "fr-FR", "Europe/Paris", 1, "EUR"),
    ("IN", 0.10, ("49.36.0", "117.192.0"), "en-IN", "Asia/Kolkata", 5, "INR"),
    ("BR", 0.08, ("177.0.0", "189.0.0"), "pt-BR", "America/Sao_Paulo", -3, "BRL"),
    ("JP", 0.06, ("126.0.0", "60.32.0"), "ja-JP", "Asia/Tokyo", 9, "JPY"),
    ("CA", 0.06, ("24.114.0", "99.224.0"), "en-CA", "America/Toronto", -5, "CAD"),
    ("AU", 0.05, ("1.120.0", "110.20.0"), "en-AU", "Australia/Sydney", 10, "AUD"),
    ("NL", 0.05, ("145.53.0", "77.160.0"), "nl-NL", "Europe/Amsterdam", 1, "EUR"),
)

# Relative activity by local hour of day (a visitor's sessions start at these local times).
LOCAL_HOUR_WEIGHTS = (
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 1.3, 1.6, 1.7, 1.7,
    1.6, 1.6, 1.6, 1.5, 1.5, 1.5, 1.6, 1.8, 1.9, 1.7, 1.2, 0.7,
)
# Monday first: weekends are quieter.
WEEKDAY_FACTORS = (1.0, 1.05, 1.05, 1.0, 0.95, 0.65, 0.6)

WEB_USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80"),
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Mobile/15E148 Safari/604.1"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36"),
    ("Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36"),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"),
)
IOS_USER_AGENTS = (
    "Shoply/3.14.0 (com.shoply.app; build:3140; iOS 17.4.1) Alamofire/5.9.1",
    "Shoply/3.13.2 (com.shoply.app; build:3132; iOS 16.7.7) Alamofire/5.8.0",
)
ANDROID_USER_AGENTS = (
    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP1A.240405.002)",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-A546B Build/TP1A.220624.014)",
)
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
)
# Bots crawl from their operators' networks, not from the visitors' countries.
BOT_IP_PREFIXES = ("66.249.66", "40.77.167", "54.36.148", "20.171.206")

WEB_LIBRARY = {"name": "analytics.js", "version": "next-1.70.0"}
IOS_LIBRARY = {"name": "analytics-ios", "version": "4.1.8"}
ANDROID_LIBRARY = {"name": "analytics-android", "version": "4.11.3"}
APP = {"name": "Shoply", "version": "3.14.0", "build": "3140", "namespace": "com.shoply.app"}

SITE = "https://www.shoply.example"
# path, title, category
PAGES = (
    ("/", "Shoply: everything for your home", "home"),
    ("/pricing", "Pricing | Shoply", "marketing"),
    ("/features", "Features | Shoply", "marketing"),
    ("/blog", "Blog | Shoply", "content"),
    ("/blog/small-kitchens", "10 ideas for small kitchens | Shoply", "content"),
    ("/blog/spring-cleaning", "The spring cleaning checklist | Shoply", "content"),
    ("/search", "Search | Shoply", "search"),
    ("/collections/kitchen", "Kitchen | Shoply", "collection"),
    ("/collections/living-room", "Living room | Shoply", "collection"),
    ("/collections/garden", "Garden | Shoply", "collection"),
    ("/products/oak-dining-table", "Oak dining table | Shoply", "product"),
    ("/products/linen-sofa", "Linen sofa | Shoply", "product"),
    ("/products/cast-iron-pan", "Cast iron pan | Shoply", "product"),
    ("/products/ceramic-vase", "Ceramic vase | Shoply", "product"),
    ("/products/wool-rug", "Wool rug | Shoply", "product"),
    ("/products/desk-lamp", "Desk lamp | Shoply", "product"),
    ("/cart", "Your cart | Shoply", "checkout"),
    ("/account", "Your account | Shoply", "account"),
    ("/help", "Help centre | Shoply", "support"),
)
PAGE_WEIGHTS = (12, 4, 3, 3, 2, 2, 5, 6, 5, 4, 5, 5, 5, 4, 4, 4, 4, 3, 2)
SCREENS = ("Home", "Search", "Product Detail", "Collection", "Cart", "Account", "Orders", "Settings")
SCREEN_WEIGHTS = (10, 5, 8, 5, 3, 2, 1, 1)

# sku, name, category, price (USD)
PRODUCTS = (
    ("SKU-1001", "Oak dining table", "Furniture", 649.0),
    ("SKU-1002", "Linen sofa", "Furniture", 1199.0),
    ("SKU-2001", "Cast iron pan", "Kitchen", 49.0),
    ("SKU-2002", "Chef knife", "Kitchen", 89.0),
    ("SKU-3001", "Ceramic vase", "Decor", 35.0),
    ("SKU-3002", "Wool rug", "Decor", 259.0),
    ("SKU-4001", "Desk lamp", "Lighting", 79.0),
    ("SKU-4002", "Pendant light", "Lighting", 149.0),
)
SEARCH_QUERIES = ("sofa", "lamp", "rug", "table", "pan", "vase", "outdoor chair", "gift ideas")
BUTTONS = ("Subscribe to newsletter", "Open chat", "Filter", "Sort by price", "Share", "Add to wishlist")

# referrer, utm source, utm medium, campaign name (None when the visit has no campaign)
REFERRERS = (
    ("", None, None, None),
    ("https://www.google.com/", None, None, None),
    ("https://www.google.com/", "google", "cpc", "spring_sale"),
    ("https://www.bing.com/", None, None, None),
    ("https://t.co/", "twitter", "social", "launch_week"),
    ("https://www.facebook.com/", "facebook", "paid_social", "spring_sale"),
    ("", "newsletter", "email", "weekly_digest"),
    ("https://news.ycombinator.com/", None, None, None),
)
REFERRER_WEIGHTS = (30, 30, 10, 5, 5, 8, 8, 4)

PLANS = ("free", "plus", "pro")
PLAN_WEIGHTS = (0.6, 0.3, 0.1)
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Emma", "Felix", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam")
LAST_NAMES = ("Smith", "Müller", "Martin", "Sato", "Silva", "Patel", "Brown", "Jansen", "Dubois", "Wilson")

# Units of each currency per US dollar, so order revenue is in the visitor's own currency.
FX_PER_USD = {"USD": 1.0, "GBP": 0.79, "EUR": 0.92, "INR": 83.0, "BRL": 5.0, "JPY": 155.0, "CAD": 1.37,
              "AUD": 1.52}
