"""The traffic simulation: visitors, sessions, a signup funnel, churn, and the faults a real stream has.

Everything is drawn from one seeded ``numpy.random.Generator``, so a configuration and a seed give the
same events, byte for byte. The simulation walks the days one by one and hands out the events in chunks,
so memory stays bounded however many days are generated.

The rules the ground truth follows (the pipeline's answers are checked against them):

* **Visitors.** ``users`` human visitors first arrive on a day drawn uniformly from the first half of the
  range (all on day 0 when the range is one day) and have at least one session that day. Each has a
  sessions-per-day rate from a lognormal (a few heavy users, a long tail of light ones), scaled by the
  weekday (weekends quieter) and by the anomalies. About 0.5% extra visitors are bots: crawler user
  agents, anonymous, many sessions of many page views a few seconds apart.
* **Sessions.** A session is a run of one visitor's events (all devices together) in which consecutive
  events are less than 30 minutes apart (in-session gaps are seconds to at most 15 minutes); a visitor's
  next session starts more than 30 minutes after the previous one ended. Sessions are measured in true
  event time (before clock skew and regardless of when the events arrive). ``end`` is the time of the
  last event, ``events`` counts the distinct valid events (no duplicates, no malformed payloads).
* **Funnel.** A visitor browses anonymously, then on a planned session signs up: an ``identify``
  carrying both the anonymousId and the new userId (traits email, name, plan), then ``Signed Up``; 10% also send
  an ``alias``, 30% a ``group`` for their company account. Later sessions take the next step with
  probability 0.6 each: ``Email Verified``, ``Profile Completed``, ``Order Completed`` (revenue and
  currency). Each visitor has a planned depth, so some drop off at every step; the funnel truth counts the
  visitors who reached each step within the range, so it never increases along the steps. Buyers repeat
  ``Order Completed`` in later sessions (15% of sessions). Some identified visitors use a second device
  with its own anonymousId, always logged in.
* **Churn.** Each visitor has a churn probability (Beta(1.5, 4)); a visitor who churns stops all activity
  from a day drawn uniformly after their first day (``churn_date``; null when that day is past the
  range). The churn *label* is observed behaviour: a visitor is ``churned`` when they were
  first seen before the label window (the last ``min(14, days // 2)`` days) and have no session in it.
  Visitors first seen in the window, and every visitor of a one-day range, are labelled not churned.
* **Faults.** 3% of visitors have a device clock off by 2 minutes to 6 hours (timestamp, originalTimestamp
  and sentAt all shifted, arrival true); 5% of mobile sessions are queued offline and arrive 1-5 days
  late; 1% of events are re-sent by a retry with the same messageId; 0.5% extra payloads are malformed
  (no identity, a track without an event name, an unknown type) and must be quarantined.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

from collector.generator import catalog
from collector.protocol import check_event

DAY_MS = 86_400_000
SESSION_GAP_MS = 30 * 60 * 1000
SPECIAL_GAP_MS = 2_000  # funnel and identity calls follow the page that triggered them
MAX_IN_SESSION_GAP_MS = 15 * 60 * 1000
FUNNEL_STEPS = ("Signed Up", "Email Verified", "Profile Completed", "Order Completed")
WEB, IOS, ANDROID = 0, 1, 2
PLATFORMS = ("web", "ios", "android")
SESSIONS_PER_CHUNK = 10_000

# Regular (non-funnel) event kinds and their shares; the first event of a session is always a view.
VIEW, PRODUCT_VIEWED, PRODUCT_ADDED, SEARCHED, CLICKED = range(5)
KIND_WEIGHTS = np.array([0.55, 0.17, 0.06, 0.08, 0.14])
TRACK_NAMES = {PRODUCT_VIEWED: "Product Viewed", PRODUCT_ADDED: "Product Added", SEARCHED: "Products Searched",
               CLICKED: "Button Clicked"}


@dataclass(frozen=True)
class Anomaly:
    """A metric moved on purpose on one day: ``factor`` times what it would have been."""

    date: date
    metric: str  # "orders" (repeat purchases) or "events" (sessions of every visitor)
    factor: float
    description: str


def default_anomalies(start: date, days: int) -> tuple[Anomaly, ...]:
    """Two anomalies at a third and two thirds of the range; none under a week (no baseline to see them)."""
    if days < 7:
        return ()
    return (
        Anomaly(start + timedelta(days=days // 3), "orders", 3.0, "a flash sale triples repeat purchases"),
        Anomaly(start + timedelta(days=2 * days // 3), "events", 0.6, "a CDN outage: 40% fewer sessions"),
    )


@dataclass(frozen=True)
class GeneratorConfig:
    start: date
    users: int = 2000
    days: int = 1
    seed: int = 0
    bot_share: float = 0.005
    duplicate_rate: float = 0.01
    malformed_rate: float = 0.005
    late_session_rate: float = 0.05
    skewed_visitor_rate: float = 0.03
    anomalies: tuple[Anomaly, ...] | None = None  # None: default_anomalies(start, days)

    def __post_init__(self) -> None:
        if self.users < 1 or self.days < 1:
            raise ValueError(f"users={self.users} and days={self.days} must both be at least 1")

    @property
    def injected_anomalies(self) -> tuple[Anomaly, ...]:
        return default_anomalies(self.start, self.days) if self.anomalies is None else self.anomalies

    @property
    def start_ms(self) -> int:
        return int(datetime.combine(self.start, datetime.min.time(), UTC).timestamp() * 1000)


@dataclass
class Chunk:
    """Events in wire form (no receivedAt), with their true arrival and their device's sentAt (epoch ms).

    ``events[:valid]`` are acceptable (duplicates included); the rest are malformed payloads. Every event
    of this chunk and of the chunks after it arrives at or after ``final_before_ms`` (the start of the
    simulated day), so a sink can close whatever it holds for earlier arrival times.
    """

    events: list[dict]
    arrival_ms: np.ndarray
    sent_ms: np.ndarray
    valid: int
    final_before_ms: int


@dataclass
class Truth:
    """What the simulation did, to check the pipeline against (see the module docstring for the rules)."""

    users: dict[str, list]
    sessions: dict[str, np.ndarray | list]
    funnel: list[dict]
    anomalies: list[dict]
    counts: dict
    orders: dict[str, list]


def iso_ms(values: np.ndarray) -> list[str]:
    """Epoch milliseconds as ISO 8601 UTC strings (``2024-05-01T12:00:00.000Z``), vectorised."""
    return np.datetime_as_string(values.astype("datetime64[ms]"), unit="ms", timezone="UTC").tolist()


def _uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-4{hex32[13:16]}-a{hex32[17:20]}-{hex32[20:32]}"


class Population:
    """Every visitor's fixed traits, as arrays indexed by visitor number (humans first, then bots)."""

    def __init__(self, config: GeneratorConfig, rng: np.random.Generator):
        humans = config.users
        bots = max(1, round(humans * config.bot_share))
        n = self.n = humans + bots
        self.is_bot = np.arange(n) >= humans
        shares = np.array([c[1] for c in catalog.COUNTRIES])
        self.country = rng.choice(len(catalog.COUNTRIES), size=n, p=shares / shares.sum())
        self.platform = np.where(self.is_bot, WEB, rng.choice(3, size=n, p=[0.7, 0.15, 0.15]))
        self.tz_offset_h = np.array([catalog.COUNTRIES[c][5] for c in self.country])
        rate = np.clip(rng.lognormal(np.log(0.35), 1.1, size=n), 0.02, 6.0)
        self.rate = np.where(self.is_bot, rng.uniform(2.0, 5.0, size=n), rate)
        first_span = max(1, -(-config.days // 2))
        self.first_day = np.where(self.is_bot, 0, rng.integers(0, first_span, size=n))
        self.churn_probability = np.where(self.is_bot, 0.0, rng.beta(1.5, 4.0, size=n).round(4))
        churns = rng.random(n) < self.churn_probability
        churn_day = self.first_day + 1 + np.floor(rng.random(n) * (config.days - self.first_day)).astype(int)
        self.churn_day = np.where(churns, churn_day, np.iinfo(np.int32).max)
        # Planned funnel depth: 0 never signs up ... 4 buys.
        step_pass = rng.random((n, 4)) < np.array([0.45, 0.75, 0.6, 0.5])
        self.depth = np.where(self.is_bot, 0, np.cumprod(step_pass, axis=1).sum(axis=1))
        self.signup_after = rng.integers(0, 4, size=n)
        self.plan = rng.choice(len(catalog.PLANS), size=n, p=catalog.PLAN_WEIGHTS)
        self.sends_alias = rng.random(n) < 0.1
        accounts = max(1, humans // 20)
        self.account = np.where(rng.random(n) < 0.3, rng.integers(0, accounts, size=n), -1)
        self.second_platform = np.where(
            (rng.random(n) < 0.15) & ~self.is_bot, (self.platform + rng.integers(1, 3, size=n)) % 3, -1)
        skew_sign = rng.choice([-1, 1], size=n)
        skewed = (rng.random(n) < config.skewed_visitor_rate) & ~self.is_bot
        self.skew_ms = np.where(skewed, skew_sign * rng.integers(120_000, 6 * 3_600_000, size=n), 0)

        id_hex = rng.bytes(16 * 3 * n).hex()
        self.visitor_id = [f"v{i:07d}" for i in range(n)]
        self.user_id = [f"usr_{id_hex[96 * i:96 * i + 20]}" for i in range(n)]
        self.anonymous_ids = [(_uuid(id_hex[96 * i + 32:96 * i + 64]), _uuid(id_hex[96 * i + 64:96 * i + 96]))
                              for i in range(n)]
        first = rng.integers(0, len(catalog.FIRST_NAMES), size=n)
        last = rng.integers(0, len(catalog.LAST_NAMES), size=n)
        self.first_name = [catalog.FIRST_NAMES[i] for i in first]
        self.last_name = [catalog.LAST_NAMES[i] for i in last]
        self.contexts = [[self._context(rng, i, 0), self._context(rng, i, 1)] for i in range(n)]

    def _context(self, rng: np.random.Generator, visitor: int, device: int) -> dict:
        """The constant part of a device's ``context`` (ip, user agent, locale, library, app and device)."""
        country = catalog.COUNTRIES[self.country[visitor]]
        platform = int(self.platform[visitor] if device == 0 else max(0, self.second_platform[visitor]))
        host = f"{int(rng.integers(1, 255))}"
        if self.is_bot[visitor]:
            prefix = catalog.BOT_IP_PREFIXES[visitor % len(catalog.BOT_IP_PREFIXES)]
            return {"ip": f"{prefix}.{host}",
                    "userAgent": catalog.BOT_USER_AGENTS[visitor % len(catalog.BOT_USER_AGENTS)],
                    "locale": "en-US", "library": catalog.WEB_LIBRARY}
        prefix = country[2][int(rng.integers(0, len(country[2])))]
        context: dict = {"ip": f"{prefix}.{host}", "locale": country[3], "timezone": country[4]}
        if platform == WEB:
            context["userAgent"] = catalog.WEB_USER_AGENTS[int(rng.integers(0, len(catalog.WEB_USER_AGENTS)))]
            context["library"] = catalog.WEB_LIBRARY
            context["screen"] = {"width": 1920, "height": 1080, "density": 1}
            return context
        ios = platform == IOS
        agents = catalog.IOS_USER_AGENTS if ios else catalog.ANDROID_USER_AGENTS
        context["userAgent"] = agents[int(rng.integers(0, len(agents)))]
        context["library"] = catalog.IOS_LIBRARY if ios else catalog.ANDROID_LIBRARY
        context["app"] = catalog.APP
        context["device"] = {"id": self.anonymous_ids[visitor][device], "manufacturer": "Apple" if ios else "Google",
                             "model": "iPhone15,2" if ios else "Pixel 8", "type": PLATFORMS[platform],
                             "adTrackingEnabled": False}
        context["os"] = {"name": "iOS" if ios else "Android", "version": "17.4.1" if ios else "14"}
        context["network"] = {"wifi": bool(rng.random() < 0.6), "cellular": True, "carrier": "Vodafone"}
        context["screen"] = {"width": 390, "height": 844, "density": 3}
        return context


@dataclass
class _Session:
    visitor: int
    device: int
    start: int
    first_regular: int  # index into the day's regular-event arrays
    regulars: int
    specials: list[str]
    identified_before: bool
    late_ms: int
    referrer: int


@dataclass
class _State:
    progress: np.ndarray
    sessions_done: np.ndarray
    last_end: np.ndarray
    last_day: np.ndarray
    signup_ms: np.ndarray
    orders: np.ndarray
    revenue_usd: np.ndarray
    counts: Counter = field(default_factory=Counter)
    by_type: Counter = field(default_factory=Counter)
    by_event: Counter = field(default_factory=Counter)
    malformed: Counter = field(default_factory=Counter)
    orders_by_date: Counter = field(default_factory=Counter)
    events_by_date: Counter = field(default_factory=Counter)
    placed_orders: list[tuple[str, int, int, str, float]] = field(default_factory=list)  # id, visitor, ms, currency, revenue
    sessions: dict[str, list] = field(default_factory=dict)


class TrafficModel:
    """Iterate :meth:`chunks` once; then :meth:`truth` describes what was generated."""

    def __init__(self, config: GeneratorConfig):
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.population = Population(config, self.rng)
        n = self.population.n
        self.state = _State(progress=np.zeros(n, int), sessions_done=np.zeros(n, int),
                            last_end=np.full(n, -10 * DAY_MS, dtype=np.int64), last_day=np.full(n, -1),
                            signup_ms=np.full(n, -1, dtype=np.int64), orders=np.zeros(n, int),
                            revenue_usd=np.zeros(n))
        self.state.sessions = {k: [] for k in ("visitor", "device", "start", "end", "events", "late",
                                               "user_id_known")}
        self._order_seq = 0

    # -- the day loop ---------------------------------------------------------------------------------

    def chunks(self) -> Iterator[Chunk]:
        for day in range(self.config.days):
            sessions, regular = self._plan_day(day)
            for first in range(0, len(sessions), SESSIONS_PER_CHUNK):
                yield self._events(day, sessions[first:first + SESSIONS_PER_CHUNK], regular)

    def _factor(self, day: int, metric: str) -> float:
        on = self.config.start + timedelta(days=day)
        factor = 1.0
        for anomaly in self.config.injected_anomalies:
            if anomaly.date == on and anomaly.metric == metric:
                factor *= anomaly.factor
        return factor

    def _plan_day(self, day: int) -> tuple[list[_Session], dict[str, np.ndarray]]:
        """Place the day's sessions (gaps over 30 minutes) and decide their funnel and identity calls."""
        rng, pop, state = self.rng, self.population, self.state
        day_ms = self.config.start_ms + day * DAY_MS
        weekday = (self.config.start + timedelta(days=day)).weekday()
        active = np.flatnonzero((pop.first_day <= day) & (pop.churn_day > day))
        lam = pop.rate[active] * catalog.WEEKDAY_FACTORS[weekday] * self._factor(day, "events")
        counts = np.minimum(rng.poisson(lam), np.where(pop.is_bot[active], 40, 12))
        counts = np.where(pop.first_day[active] == day, np.maximum(counts, 1), counts)
        visitor = np.repeat(active, counts)
        total = len(visitor)
        hour_weights = np.array(catalog.LOCAL_HOUR_WEIGHTS) / sum(catalog.LOCAL_HOUR_WEIGHTS)
        local_s = rng.choice(24, size=total, p=hour_weights) * 3600 + rng.integers(0, 3600, size=total)
        start_s = np.where(pop.is_bot[visitor], rng.integers(0, 86_400, size=total),
                           (local_s - pop.tz_offset_h[visitor] * 3600) % 86_400)
        order = np.lexsort((start_s, visitor))
        visitor, start_s = visitor[order], start_s[order]
        bot = pop.is_bot[visitor]
        regulars = np.where(bot, rng.integers(10, 60, size=total), np.minimum(rng.geometric(1 / 7, size=total), 60))
        offsets = np.concatenate(([0], np.cumsum(regulars)))
        n_regular = int(offsets[-1])
        event_bot = np.repeat(bot, regulars)
        gaps = np.where(event_bot, rng.integers(1_000, 4_000, size=n_regular),
                        np.minimum(rng.lognormal(np.log(25_000), 1.0, size=n_regular), MAX_IN_SESSION_GAP_MS))
        gaps = gaps.astype(np.int64)
        gaps[offsets[:-1]] = 0  # the first event opens the session
        elapsed = np.cumsum(gaps)
        elapsed -= np.repeat(elapsed[offsets[:-1]], regulars)  # time since the session's first event
        durations = elapsed[offsets[1:] - 1]
        uniforms = rng.random((total, 5))
        late = rng.integers(DAY_MS, 5 * DAY_MS, size=total)
        referrer = np.where(bot, 0, rng.choice(len(catalog.REFERRERS), size=total,
                                               p=np.array(catalog.REFERRER_WEIGHTS) / sum(catalog.REFERRER_WEIGHTS)))
        order_factor = self._factor(day, "orders")

        sessions: list[_Session] = []
        day_end = day_ms + DAY_MS
        for i, (v, s, dur) in enumerate(zip(visitor.tolist(), start_s.tolist(), durations.tolist())):
            start = max(day_ms + s * 1000, int(state.last_end[v]) + SESSION_GAP_MS + 1_000)
            if start >= day_end:
                continue
            u = uniforms[i]
            progress = int(state.progress[v])
            specials: list[str] = []
            if not pop.is_bot[v]:
                depth = int(pop.depth[v])
                if progress == 0 and depth >= 1 and state.sessions_done[v] >= pop.signup_after[v]:
                    specials = ["identify", "Signed Up"]
                    if pop.sends_alias[v]:
                        specials.append("alias")
                    if pop.account[v] >= 0:
                        specials.append("group")
                elif 1 <= progress < depth and u[0] < 0.6:
                    specials = [FUNNEL_STEPS[progress]]
                elif progress == 4 and u[1] < min(1.0, 0.15 * order_factor):
                    specials = ["Order Completed"]
            device = 1 if progress >= 1 and pop.second_platform[v] >= 0 and u[2] < 0.3 else 0
            platform = pop.platform[v] if device == 0 else pop.second_platform[v]
            late_ms = int(late[i]) if platform != WEB and u[3] < self.config.late_session_rate else 0
            sessions.append(_Session(v, device, start, int(offsets[i]), int(regulars[i]), specials,
                                     progress >= 1, late_ms, int(referrer[i])))
            end = start + dur + SPECIAL_GAP_MS * len(specials)
            state.last_end[v] = end
            state.last_day[v] = day
            state.sessions_done[v] += 1
            if specials and specials[-1] in FUNNEL_STEPS or specials[1:2] == ["Signed Up"]:
                state.progress[v] = progress + (1 if progress < 4 else 0)
            if specials[:1] == ["identify"]:  # signup time: the identify call
                state.signup_ms[v] = start + int(elapsed[offsets[i] + max(1, regulars[i] // 2) - 1]) \
                    + SPECIAL_GAP_MS
        regular = {
            "elapsed": elapsed,
            "kind": np.where(np.repeat(bot, regulars), VIEW, rng.choice(5, size=n_regular, p=KIND_WEIGHTS)),
            "page": rng.choice(len(catalog.PAGES), size=n_regular,
                               p=np.array(catalog.PAGE_WEIGHTS) / sum(catalog.PAGE_WEIGHTS)),
            "screen": rng.choice(len(catalog.SCREENS), size=n_regular,
                                 p=np.array(catalog.SCREEN_WEIGHTS) / sum(catalog.SCREEN_WEIGHTS)),
            "pick": rng.integers(0, 1_000_000, size=n_regular),
        }
        regular["kind"][offsets[:-1]] = VIEW
        return sessions, regular

    # -- events ---------------------------------------------------------------------------------------

    def _events(self, day: int, sessions: list[_Session], regular: dict[str, np.ndarray]) -> Chunk:
        """Build the chunk's events; the hot loop does dict building only, times are formatted vectorised."""
        rng, pop, state = self.rng, self.population, self.state
        total = sum(s.regulars + len(s.specials) for s in sessions)
        ids = rng.bytes(16 * total).hex()
        message_ids = [_uuid(ids[i:i + 32]) for i in range(0, 32 * total, 32)]
        events: list[dict] = []
        times: list[int] = []
        event_session: list[int] = []
        regular_positions: list[int] = []
        patch_created_at: list[int] = []
        elapsed, kinds, pages = regular["elapsed"].tolist(), regular["kind"].tolist(), regular["page"].tolist()
        screens, picks = regular["screen"].tolist(), regular["pick"].tolist()
        date_label = (self.config.start + timedelta(days=day)).isoformat()
        session_rows = state.sessions
        empty: dict = {}  # shared: nothing downstream mutates integrations or contexts
        for si, session in enumerate(sessions):
            v, start = session.visitor, session.start
            platform = int(pop.platform[v] if session.device == 0 else pop.second_platform[v])
            base = pop.contexts[v][session.device]
            anonymous_id = pop.anonymous_ids[v][session.device]
            user_id = pop.user_id[v]
            known = session.identified_before or session.device == 1
            ref_url, source, medium, campaign_name = catalog.REFERRERS[session.referrer]
            campaign = {"source": source, "medium": medium, "name": campaign_name} if source else None
            search = f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign_name}" if source else ""
            split = session.first_regular + max(1, session.regulars // 2)
            shift = SPECIAL_GAP_MS * len(session.specials)
            current_page = None
            first = len(events)
            order = [*range(session.first_regular, split), *range(-len(session.specials), 0),
                     *range(split, session.first_regular + session.regulars)]
            for r in order:
                k = len(events)
                if r >= 0:
                    times.append(start + elapsed[r] + (shift if r >= split else 0))
                    regular_positions.append(k)
                    kind = kinds[r]
                    if platform == WEB:
                        if kind == VIEW or current_page is None:
                            path, title, _ = catalog.PAGES[pages[r]]
                            if current_page is None:  # the landing page carries the visit's referrer
                                current_page = {"path": path, "referrer": ref_url, "search": search,
                                                "title": title, "url": catalog.SITE + path + search}
                            else:
                                current_page = {"path": path, "referrer": current_page["url"], "search": "",
                                                "title": title, "url": catalog.SITE + path}
                        context = {**base, "page": current_page, "campaign": campaign} if campaign \
                            else {**base, "page": current_page}
                        if kind == VIEW:
                            event = {"type": "page", "name": current_page["title"], "properties": current_page}
                    else:
                        context = base
                        if kind == VIEW:
                            name = catalog.SCREENS[screens[r]]
                            event = {"type": "screen", "name": name, "properties": {"name": name}}
                    if kind != VIEW:
                        options = TRACK_PROPERTIES[kind]
                        event = {"type": "track", "event": TRACK_NAMES[kind],
                                 "properties": options[picks[r] % len(options)]}
                    event["userId"] = user_id if known else None
                else:
                    name = session.specials[r]
                    times.append(start + elapsed[split - 1] + SPECIAL_GAP_MS * (len(session.specials) + r + 1))
                    context = {**base, "page": current_page} if current_page is not None else base
                    event = self._special(name, v, anonymous_id, user_id, patch_created_at, k, date_label)
                    if name == "Order Completed":
                        order = event["properties"]
                        state.placed_orders.append((order["order_id"], v, times[-1], order["currency"],
                                                    order["revenue"]))
                    known = known or name == "identify"
                    event.setdefault("userId", user_id if known else None)
                event["anonymousId"] = anonymous_id
                event["messageId"] = message_ids[k]
                event["context"] = context
                event["integrations"] = empty
                events.append(event)
                event_session.append(si)
            session_rows["visitor"].append(v)
            session_rows["device"].append(session.device)
            session_rows["start"].append(start)
            session_rows["end"].append(max(times[first:]))
            session_rows["events"].append(len(events) - first)
            session_rows["late"].append(session.late_ms > 0)
            session_rows["user_id_known"].append(known)

        times = np.array(times, dtype=np.int64)
        event_session = np.array(event_session, dtype=np.int64)
        is_regular = np.zeros(total, dtype=bool)
        is_regular[regular_positions] = True
        visitors = np.array([s.visitor for s in sessions], dtype=np.int64)[event_session]
        platforms = np.array([pop.platform[s.visitor] if s.device == 0 else pop.second_platform[s.visitor]
                              for s in sessions])[event_session]
        late_ms = np.array([s.late_ms for s in sessions], dtype=np.int64)[event_session]
        skew = pop.skew_ms[visitors]
        send_lag = np.where(platforms == WEB, rng.integers(20, 1_500, size=total), rng.integers(0, 30_000, size=total))
        sent = times + send_lag + late_ms
        arrival = sent + rng.integers(15, 400, size=total)
        device_time, device_sent = iso_ms(times + skew), iso_ms(sent + skew)
        for event, stamp, sent_at in zip(events, device_time, device_sent):
            event["timestamp"] = stamp
            event["originalTimestamp"] = stamp
            event["sentAt"] = sent_at
        for k in patch_created_at:
            events[k]["traits"]["createdAt"] = device_time[k]

        self._count(events, times, late_ms, skew, visitors)
        duplicates = np.flatnonzero(rng.random(total) < self.config.duplicate_rate)
        malformed = np.flatnonzero(is_regular & (rng.random(total) < self.config.malformed_rate))
        faults = rng.integers(0, 1_000_000, size=len(malformed))
        bad_ids = rng.bytes(16 * len(malformed)).hex()
        out = events + [dict(events[i]) for i in duplicates.tolist()]
        for j, i in enumerate(malformed.tolist()):
            bad = _malform(events[i], int(faults[j]), _uuid(bad_ids[32 * j:32 * j + 32]))
            reason = check_event(bad)
            assert reason is not None, "a malformed payload passed the collector's checks"
            state.malformed[reason[0]] += 1
            out.append(bad)
        state.counts["duplicates"] += len(duplicates)
        retry = rng.integers(1_000, 90_000, size=len(duplicates))
        arrival_all = np.concatenate((arrival, arrival[duplicates] + retry, arrival[malformed] + 7))
        sent_all = np.concatenate((sent, sent[duplicates], sent[malformed])) + np.concatenate(
            (skew, skew[duplicates], skew[malformed]))
        day_start = self.config.start_ms + day * DAY_MS
        return Chunk(out, arrival_all, sent_all, total + len(duplicates), day_start)

    def _special(self, name: str, v: int, anonymous_id: str, user_id: str, patch: list[int], k: int,
                 date_label: str) -> dict:
        pop = self.population
        plan = catalog.PLANS[pop.plan[v]]
        if name == "identify":
            patch.append(k)
            email = f"{pop.first_name[v].lower()}.{pop.last_name[v].lower()}{v}@example.com"
            return {"type": "identify", "userId": user_id, "traits": {
                "email": email, "name": f"{pop.first_name[v]} {pop.last_name[v]}", "firstName": pop.first_name[v],
                "lastName": pop.last_name[v], "plan": plan, "createdAt": None}}
        if name == "alias":
            return {"type": "alias", "previousId": anonymous_id, "userId": user_id}
        if name == "group":
            account = int(pop.account[v])
            return {"type": "group", "groupId": f"acct_{account:05d}", "userId": user_id,
                    "traits": {"name": f"Account {account}", "plan": plan, "employees": 5 + account % 200}}
        properties: dict = {}
        if name == "Signed Up":
            properties = {"method": "google" if v % 3 == 0 else "email", "plan": plan}
        elif name == "Order Completed":
            self._order_seq += 1
            sku, product, category, price = catalog.PRODUCTS[(v + self._order_seq) % len(catalog.PRODUCTS)]
            quantity = 1 + self._order_seq % 3
            currency = catalog.COUNTRIES[pop.country[v]][6]
            fx = catalog.FX_PER_USD[currency]
            revenue = round(price * quantity * fx, 2)
            properties = {"order_id": f"ord_{self._order_seq:09d}", "revenue": revenue, "currency": currency,
                          "products": [{"product_id": sku, "sku": sku, "name": product, "category": category,
                                        "price": round(price * fx, 2), "quantity": quantity}]}
            self.state.orders[v] += 1
            self.state.revenue_usd[v] += price * quantity
            self.state.orders_by_date[date_label] += 1
        return {"type": "track", "event": name, "properties": properties}

    def _count(self, events: list[dict], times: np.ndarray, late_ms: np.ndarray, skew: np.ndarray,
               visitors: np.ndarray) -> None:
        state = self.state
        state.counts["events"] += len(events)
        state.counts["late"] += int((late_ms > 0).sum())
        state.counts["skewed"] += int((skew != 0).sum())
        state.counts["bot_events"] += int(self.population.is_bot[visitors].sum())
        state.by_type.update(e["type"] for e in events)
        state.by_event.update(e["event"] for e in events if e["type"] == "track")
        days, per_day = np.unique((times - self.config.start_ms) // DAY_MS, return_counts=True)
        for d, n in zip(days.tolist(), per_day.tolist()):
            state.events_by_date[(self.config.start + timedelta(days=d)).isoformat()] += n

    # -- ground truth ---------------------------------------------------------------------------------

    def truth(self) -> Truth:
        config, pop, state = self.config, self.population, self.state
        window = min(14, config.days // 2)
        window_start = config.days - window
        eligible = (pop.first_day < window_start) & ~pop.is_bot & (window > 0)
        churned = eligible & (state.last_day < window_start)
        signed_up = state.progress >= 1
        used_second = np.zeros(pop.n, dtype=bool)
        second = np.array(state.sessions["device"], dtype=bool)
        used_second[np.array(state.sessions["visitor"], dtype=np.int64)[second]] = True

        def day_label(d: int) -> str | None:
            return (config.start + timedelta(days=int(d))).isoformat() if 0 <= d < 10**6 else None

        users = {
            "visitor_id": pop.visitor_id,
            "user_id": [u if s else None for u, s in zip(pop.user_id, signed_up)],
            "anonymous_ids": [list(a[:2]) if both else [a[0]] for a, both in zip(pop.anonymous_ids, used_second)],
            "is_bot": pop.is_bot.tolist(),
            "platform": [PLATFORMS[p] for p in pop.platform],
            "country": [catalog.COUNTRIES[c][0] for c in pop.country],
            "first_seen_date": [day_label(d) for d in pop.first_day],
            "signup_at": [int(t) if t >= 0 else None for t in state.signup_ms],
            "plan": [catalog.PLANS[p] if s else None for p, s in zip(pop.plan, signed_up)],
            "funnel_step": state.progress.tolist(),
            "orders": state.orders.tolist(),
            "revenue_usd": state.revenue_usd.round(2).tolist(),
            "sessions_per_day_rate": pop.rate.round(4).tolist(),
            "clock_skew_ms": pop.skew_ms.tolist(),
            "churn_probability": pop.churn_probability.tolist(),
            "churn_date": [day_label(d) if d < config.days else None for d in pop.churn_day],
            "last_active_date": [day_label(d) if d >= 0 else None for d in state.last_day],
            "churned": churned.tolist(),
        }
        rows = state.sessions
        visitor = np.array(rows["visitor"], dtype=np.int64)
        device = np.array(rows["device"], dtype=np.int64)
        order = np.lexsort((np.array(rows["start"]), visitor))
        sessions = {
            "session_id": [f"s{n:08d}" for n in range(len(order))],
            "visitor_id": [pop.visitor_id[v] for v in visitor[order]],
            "anonymous_id": [pop.anonymous_ids[v][d] for v, d in zip(visitor[order], device[order])],
            "user_id": [pop.user_id[v] if known else None
                        for v, known in zip(visitor[order], np.array(rows["user_id_known"])[order])],
            "stitched_user_id": [users["user_id"][v] for v in visitor[order]],
            "start": np.array(rows["start"], dtype=np.int64)[order],
            "end": np.array(rows["end"], dtype=np.int64)[order],
            "events": np.array(rows["events"], dtype=np.int64)[order],
            "is_bot": pop.is_bot[visitor[order]],
            "late": np.array(rows["late"], dtype=bool)[order],
        }
        humans = ~pop.is_bot
        funnel = [{"step": i + 1, "event": name, "users": int(((state.progress >= i + 1) & humans).sum())}
                  for i, name in enumerate(FUNNEL_STEPS)]
        anomalies = [{"date": a.date.isoformat(), "metric": a.metric, "factor": a.factor,
                      "description": a.description} for a in config.injected_anomalies]
        counts = {
            "events": state.counts["events"],
            "duplicates": state.counts["duplicates"],
            "malformed": sum(state.malformed.values()),
            "malformed_by_reason": dict(sorted(state.malformed.items())),
            "landing_lines": state.counts["events"] + state.counts["duplicates"],
            "quarantine_lines": sum(state.malformed.values()),
            "late": state.counts["late"],
            "skewed": state.counts["skewed"],
            "bot_events": state.counts["bot_events"],
            "sessions": len(order),
            "by_type": dict(sorted(state.by_type.items())),
            "by_track_event": dict(sorted(state.by_event.items())),
            "events_by_date": dict(sorted(state.events_by_date.items())),
            "orders_by_date": dict(sorted(state.orders_by_date.items())),
            "churn_label_window_days": window,
        }
        placed = state.placed_orders
        orders = {
            "order_id": [o[0] for o in placed],
            "visitor_id": [pop.visitor_id[o[1]] for o in placed],
            "is_bot": [bool(pop.is_bot[o[1]]) for o in placed],
            "order_time": [o[2] for o in placed],
            "currency": [o[3] for o in placed],
            "revenue": [o[4] for o in placed],
        }
        return Truth(users, sessions, funnel, anomalies, counts, orders)


def _product(sku: str, name: str, category: str, price: float) -> dict:
    return {"product_id": sku, "sku": sku, "name": name, "category": category, "price": price, "currency": "USD"}


# Properties of the regular track events, shared between events (nothing downstream mutates them).
TRACK_PROPERTIES: dict[int, tuple[dict, ...]] = {
    PRODUCT_VIEWED: tuple(_product(*p) for p in catalog.PRODUCTS),
    PRODUCT_ADDED: tuple({**_product(*p), "quantity": q} for p in catalog.PRODUCTS for q in (1, 1, 2)),
    SEARCHED: tuple({"query": q} for q in catalog.SEARCH_QUERIES),
    CLICKED: tuple({"label": b} for b in catalog.BUTTONS),
}


MALFORMED_KINDS = ("missing_identity", "missing_identity", "missing_event", "unknown_type")


def _malform(event: dict, pick: int, message_id: str) -> dict:
    """A broken copy of an event, as buggy clients send them."""
    bad = dict(event, messageId=message_id)
    kind = MALFORMED_KINDS[pick % len(MALFORMED_KINDS)]
    if kind == "missing_identity":
        bad.pop("userId", None)
        bad.pop("anonymousId", None)
    elif kind == "missing_event":
        bad["type"] = "track"
        bad.pop("event", None)
        bad.pop("name", None)
    else:
        bad["type"] = ("pageview", "Track", "event")[pick % 3]
    return bad
