/*
 * Analytics Stack browser tracker (served by the collector at GET /t.js).
 *
 *   <script src="http://COLLECTOR/t.js" data-write-key="KEY" data-host="http://COLLECTOR"></script>
 *   analytics.page(); analytics.track('Signup', {plan: 'pro'}); analytics.identify('u1', {email: '…'});
 *
 * Or configure explicitly: analytics.init({writeKey, host, flushInterval, flushAt,
 * retryBaseDelay, retryMaxDelay}).
 *
 * Delivery is at-least-once: events wait in localStorage until the collector answers 2xx, so a reload or a
 * collector outage loses nothing, and a rare duplicate carries the same messageId for the lake to drop.
 * Plain ES2017, no dependencies, no build step.
 */
(function (window, document) {
  'use strict';
  if (window.analytics && window.analytics.__astLoaded) return; // the script was included twice

  var VERSION = '0.1.0';
  var SESSION_TIMEOUT_MS = 30 * 60 * 1000;
  var MAX_STORED_EVENTS = 1000;
  // Chrome refuses keepalive fetches and beacons whose in-flight bodies exceed 64 KiB in total, so every
  // request stays under this size (and one request is in flight at a time).
  var MAX_BODY_BYTES = 60 * 1024;
  var MAX_BATCH_EVENTS = 100;
  var LEASE_MS = 30 * 1000; // how long a sent, unanswered event is left alone by other tabs
  var REQUEST_TIMEOUT_MS = 15 * 1000;
  // A beacon sent while the collector was failing keeps its events stored; the next page waits this long
  // before resending them, so a beacon that did get through is rarely duplicated.
  var BEACON_LEASE_MS = 3000;

  var script = document.currentScript;
  var config = {writeKey: '', host: '', flushInterval: 2000, flushAt: 20, retryBaseDelay: 1000,
    retryMaxDelay: 30000};
  var inFlight = {}; // messageId -> true, for the request this tab is waiting on
  var sending = false, failures = 0, retryAt = 0, timer = null, started = false;
  // Parsed copies of what this tab stored. Reading the queue back on every call would parse up to 1000
  // events; another tab's writes arrive as `storage` events, which drop the copy. When localStorage is
  // blocked (private modes, sandboxed frames) this is the only store, and ids last one page view.
  var memory = {};
  window.addEventListener('storage', function (e) {
    if (e.key === null) memory = {}; else delete memory[e.key];
  });

  // -- storage

  function load(key) {
    if (Object.prototype.hasOwnProperty.call(memory, key)) return memory[key];
    try {
      var raw = window.localStorage.getItem(key);
      return (memory[key] = raw === null ? null : JSON.parse(raw));
    } catch (e) {
      return null; // blocked or corrupt
    }
  }

  function save(key, value) {
    memory[key] = value;
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* quota or blocked */ }
  }

  // Identity ids also live in a first-party cookie, so a visitor whose localStorage is blocked or wiped
  // keeps the same anonymousId across visits.
  function cookie(name, value) {
    try {
      if (value === undefined) {
        var m = document.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
        return m ? decodeURIComponent(m[1]) : null;
      }
      var age = value === null ? 0 : 365 * 24 * 3600;
      document.cookie = name + '=' + encodeURIComponent(value || '') + '; max-age=' + age +
        '; path=/; SameSite=Lax' + (location.protocol === 'https:' ? '; Secure' : '');
    } catch (e) { /* cookies disabled */ }
    return null;
  }

  function persistedId(name, value) {
    var key = 'ast.' + name;
    if (value !== undefined) {
      save(key, value);
      cookie('ast_' + name, value);
      return value;
    }
    var found = load(key);
    if (found === null) found = cookie('ast_' + name);
    return found || null;
  }

  function uuid() {
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    // randomUUID exists on https pages and localhost only; elsewhere build the same random (v4) format
    return '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, function (c) {
      return (c ^ (window.crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16);
    });
  }

  function anonymousId() {
    return persistedId('anonymousId') || persistedId('anonymousId', uuid());
  }

  // One session per browser (shared by tabs through localStorage); it ends after 30 minutes without events.
  function sessionId() {
    var now = Date.now();
    var session = load('ast.session');
    if (!session || !session.id || now - session.last > SESSION_TIMEOUT_MS) session = {id: uuid()};
    session.last = now;
    save('ast.session', session);
    return session.id;
  }

  // -- events

  function pageInfo() {
    return {
      path: location.pathname,
      referrer: document.referrer,
      search: location.search,
      title: document.title,
      url: location.href,
    };
  }

  function campaign() {
    var names = {utm_source: 'source', utm_medium: 'medium', utm_campaign: 'name', utm_term: 'term',
      utm_content: 'content'};
    var found = null;
    new URLSearchParams(location.search).forEach(function (value, key) {
      if (names[key]) (found = found || {})[names[key]] = value;
    });
    return found;
  }

  function context() {
    var ctx = {
      page: pageInfo(),
      screen: {width: window.screen.width, height: window.screen.height, density: window.devicePixelRatio},
      locale: navigator.language,
      timezone: (function () {
        try { return Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return undefined; }
      })(),
      userAgent: navigator.userAgent,
      library: {name: 'analytics-stack-t.js', version: VERSION},
      sessionId: sessionId(),
    };
    var utm = campaign();
    if (utm) ctx.campaign = utm;
    return ctx;
  }

  function isObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  function enqueue(event) {
    event.messageId = uuid();
    event.anonymousId = anonymousId();
    var userId = persistedId('userId');
    if (userId) event.userId = userId;
    event.timestamp = new Date().toISOString();
    event.context = context();
    var queue = load(queueKey()) || [];
    queue.push({e: event, l: 0});
    // At the cap the oldest events are dropped: after a long outage, recent behaviour matters more.
    if (queue.length > MAX_STORED_EVENTS) queue.splice(0, queue.length - MAX_STORED_EVENTS);
    save(queueKey(), queue);
    if (pending().length >= config.flushAt && Date.now() >= retryAt) flush();
  }

  // One queue per origin, shared by tabs; an event is sent with whatever write key is configured then.
  function queueKey() { return 'ast.queue'; }

  // Events no request is carrying right now (leases of a closed tab expire and the events are resent).
  function pending() {
    var now = Date.now();
    return (load(queueKey()) || []).filter(function (item) { return !item.l || item.l < now; });
  }

  function updateQueue(messageIds, lease) {
    var ids = {};
    messageIds.forEach(function (id) { ids[id] = true; });
    var queue = (load(queueKey()) || []).filter(function (item) {
      if (!ids[item.e.messageId]) return true;
      if (lease === null) return false; // delivered (or refused for good): forget it
      item.l = lease;
      return true;
    });
    save(queueKey(), queue);
  }

  // Put the events of a failed request back to pending. Usually they are still stored (leased); but if the
  // tab was hidden meanwhile, flushOnExit trusted the request and removed them, so they are added again.
  function requeue(events) {
    var mine = {};
    events.forEach(function (e) { mine[e.messageId] = e; });
    var queue = (load(queueKey()) || []).map(function (item) {
      if (!mine[item.e.messageId]) return item;
      delete mine[item.e.messageId];
      return {e: item.e, l: 0};
    });
    queue = Object.keys(mine).map(function (id) { return {e: mine[id], l: 0}; }).concat(queue);
    if (queue.length > MAX_STORED_EVENTS) queue.splice(0, queue.length - MAX_STORED_EVENTS);
    save(queueKey(), queue);
  }

  var encoder = new TextEncoder();
  function byteLength(text) { return encoder.encode(text).length; }

  function body(events) {
    return JSON.stringify({batch: events, sentAt: new Date().toISOString(), writeKey: config.writeKey});
  }

  // The next request: as many pending events as fit under the size limit (an oversized event goes alone
  // and the collector decides; beacons skip it).
  function nextBatch(items) {
    var events = [], size = 80;
    for (var i = 0; i < items.length && events.length < MAX_BATCH_EVENTS; i++) {
      var bytes = byteLength(JSON.stringify(items[i].e)) + 1;
      if (events.length && size + bytes > MAX_BODY_BYTES) break;
      events.push(items[i].e);
      size += bytes;
    }
    return {events: events, text: body(events), ids: events.map(function (e) { return e.messageId; })};
  }

  // -- delivery

  function retryable(status) { return status === 0 || status === 429 || status >= 500; }

  function scheduleRetry(retryAfterSeconds) {
    failures += 1;
    var delay = Math.min(config.retryMaxDelay, config.retryBaseDelay * Math.pow(2, failures - 1));
    delay = delay / 2 + Math.random() * delay / 2; // jitter, so a fleet of tabs does not retry in step
    if (retryAfterSeconds > 0) delay = Math.max(delay, Math.min(retryAfterSeconds * 1000, 10 * 60 * 1000));
    retryAt = Date.now() + delay;
    setTimeout(function () { flush(); }, delay + 5);
  }

  function post(text) {
    var abort = window.AbortController ? new AbortController() : null;
    var timeout = abort && setTimeout(function () { abort.abort(); }, REQUEST_TIMEOUT_MS);
    // text/plain keeps this a CORS "simple" request (no preflight); the collector reads the JSON anyway.
    return fetch(config.host + '/v1/batch', {
      method: 'POST', body: text, headers: {'Content-Type': 'text/plain'}, credentials: 'omit',
      keepalive: byteLength(text) <= MAX_BODY_BYTES, signal: abort ? abort.signal : undefined,
    }).then(function (response) {
      clearTimeout(timeout);
      return {status: response.status, retryAfter: parseFloat(response.headers.get('Retry-After')) || 0};
    }, function () {
      clearTimeout(timeout);
      return {status: 0, retryAfter: 0}; // network error, CORS failure or timeout
    });
  }

  // Send pending events, one request at a time, until none are left or the collector fails.
  // An explicit call skips the backoff wait; the timer does not.
  function flush(force) {
    if (!config.writeKey || !config.host) return Promise.resolve();
    if (sending) return sending;
    if (!force && Date.now() < retryAt) return Promise.resolve();
    var items = pending();
    if (!items.length) return Promise.resolve();
    var batch = nextBatch(items);
    batch.ids.forEach(function (id) { inFlight[id] = true; });
    updateQueue(batch.ids, Date.now() + LEASE_MS);
    sending = post(batch.text).then(function (result) {
      batch.ids.forEach(function (id) { delete inFlight[id]; });
      sending = false;
      if (result.status >= 200 && result.status < 300) {
        failures = 0; retryAt = 0;
        updateQueue(batch.ids, null);
        return flush(true);
      }
      if (retryable(result.status)) {
        requeue(batch.events); // pending again, so a beacon at pagehide can still take them
        scheduleRetry(result.retryAfter);
        return undefined;
      }
      // 4xx other than 429: the same request would be refused again (bad write key, malformed events).
      if (window.console) console.warn('analytics: collector refused ' + batch.ids.length +
        ' events with HTTP ' + result.status + '; they are dropped');
      updateQueue(batch.ids, null);
      return flush(true);
    });
    return sending;
  }

  // The page is going away: hand what is left to the browser with sendBeacon, which outlives the page.
  // A beacon reports no answer, so when the collector was last seen failing the events stay stored too
  // (they go again on the next visit, deduplicated by messageId) rather than risk losing them.
  function flushOnExit() {
    if (!config.writeKey || !config.host || !navigator.sendBeacon) return;
    var healthy = failures === 0;
    if (healthy) {
      // a keepalive fetch in flight also outlives the page; trust it like a beacon
      updateQueue(Object.keys(inFlight), null);
    }
    var items = pending().filter(function (item) {
      return byteLength(JSON.stringify(item.e)) < MAX_BODY_BYTES - 200; // too big for any beacon
    });
    while (items.length) {
      var batch = nextBatch(items);
      var queued = false;
      try {
        var blob = new Blob([batch.text], {type: 'text/plain'}); // text/plain: no CORS preflight
        queued = navigator.sendBeacon(config.host + '/v1/batch', blob);
      } catch (e) { /* treat like a refused beacon */ }
      if (!queued) return; // the browser's beacon quota is used up: the rest stays for the next visit
      updateQueue(batch.ids, healthy ? null : Date.now() + BEACON_LEASE_MS);
      items = items.slice(batch.ids.length);
    }
  }

  function start() {
    if (started) return;
    started = true;
    window.addEventListener('pagehide', flushOnExit);
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'hidden') flushOnExit();
    });
    window.addEventListener('online', function () { retryAt = 0; flush(); });
    // Capture phase: a click handler that stops propagation must not hide the click from analytics.
    document.addEventListener('click', onClick, true);
    flush(); // events a previous page left behind
  }

  function onClick(domEvent) {
    var target = domEvent.target;
    if (target && target.nodeType !== 1) target = target.parentElement;
    var element = target && target.closest && target.closest('[data-track]');
    if (!element) return;
    var name = element.getAttribute('data-track');
    if (!name) return;
    var raw = element.getAttribute('data-track-properties');
    var properties = {};
    if (raw) {
      try {
        properties = JSON.parse(raw);
        if (!isObject(properties)) properties = {raw: raw};
      } catch (e) {
        properties = {raw: raw}; // a typo in the markup must not break the page or lose the click
      }
    }
    api.track(name, properties);
  }

  // -- public API

  var api = {
    __astLoaded: true,
    VERSION: VERSION,

    init: function (options) {
      options = options || {};
      Object.keys(config).forEach(function (key) {
        var value = options[key];
        if (value === undefined || value === null || value === '') return;
        if (typeof config[key] === 'number') {
          value = Number(value);
          if (!(value > 0)) throw new Error('analytics.init: ' + key + ' must be a positive number of ' +
            (key === 'flushAt' ? 'events' : 'milliseconds') + ', got ' + JSON.stringify(options[key]));
        }
        config[key] = typeof config[key] === 'number' ? value : String(value);
      });
      config.host = config.host.replace(/\/+$/, '');
      retryAt = 0;
      if (started) clearInterval(timer);
      timer = setInterval(function () { flush(); }, config.flushInterval);
      start();
      return api;
    },

    page: function (name, properties) {
      if (isObject(name)) { properties = name; name = undefined; }
      var event = {type: 'page', properties: Object.assign(pageInfo(), properties || {})};
      if (name) { event.name = String(name); event.properties.name = event.name; }
      enqueue(event);
    },

    track: function (name, properties) {
      if (!name) throw new Error('analytics.track needs an event name, e.g. track("Signup Started")');
      enqueue({type: 'track', event: String(name), properties: isObject(properties) ? properties : {}});
    },

    identify: function (userId, traits) {
      if (isObject(userId)) { traits = userId; userId = undefined; }
      if (userId !== undefined && userId !== null && userId !== '') persistedId('userId', String(userId));
      enqueue({type: 'identify', traits: isObject(traits) ? traits : {}});
    },

    group: function (groupId, traits) {
      if (!groupId) throw new Error('analytics.group needs a groupId, e.g. group("acme-inc")');
      enqueue({type: 'group', groupId: String(groupId), traits: isObject(traits) ? traits : {}});
    },

    flush: function () { return flush(true); },

    // Log out: forget the user and start a new anonymous visitor and session. Queued events are kept.
    reset: function () {
      save('ast.userId', null);
      cookie('ast_userId', null);
      persistedId('anonymousId', uuid());
      save('ast.session', null);
    },

    user: function () { return {anonymousId: anonymousId(), userId: persistedId('userId')}; },
  };

  // Calls made before the script loaded, by a stub like `window.analytics = []; analytics.push(['page'])`.
  var early = Array.isArray(window.analytics) ? window.analytics : [];
  window.analytics = api;

  if (script && script.getAttribute('data-write-key')) {
    api.init({
      writeKey: script.getAttribute('data-write-key'),
      host: script.getAttribute('data-host') || new URL(script.src, location.href).origin,
      flushInterval: script.getAttribute('data-flush-interval'),
      flushAt: script.getAttribute('data-flush-at'),
    });
  }
  early.forEach(function (call) {
    if (call && typeof api[call[0]] === 'function') api[call[0]].apply(api, call.slice(1));
  });
})(window, document);
