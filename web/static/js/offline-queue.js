/*
 * offline-queue.js -- finished interviews and drafts kept in the phone's IndexedDB,
 * and the sender that posts the interviews when a connection is there.
 *
 *   KonbitQueue.finish(draftKey, item)  store a finished interview (and drop its draft)
 *                                       in one transaction
 *   KonbitQueue.items() / counts()      everything in the outbox / {waiting, sent, refused}
 *   KonbitQueue.flush({force})          send what is due; resolves when done
 *   KonbitQueue.start()                 send on load, on `online`, and on a backoff timer
 *   KonbitQueue.saveDraft(d) / getDraft(key) / drafts() / deleteDraft(key)
 *   KonbitQueue.subscribe(fn)           fn() after any change, in this tab or another
 *
 * An outbox item: {key, uuid, kind: 'create'|'correction', method, url, payload,
 *   status: 'waiting'|'sent'|'refused', attempts, next_at, error, http_status,
 *   created_at, sent_at, username, label}.
 *
 * No interview is ever dropped by the sender: 2xx -> sent; 409 (the same uuid with other
 * answers, kept aside on the server) and 400/404/413/422 -> refused, kept and shown with the
 * server's message; anything else (no network, 5xx, 401/403 after a fresh token) -> waiting,
 * retried with exponential backoff. The server recognises a resent uuid, so sending twice
 * (two tabs, a lost response) never makes a duplicate.
 *
 * Plain ES2017, no dependencies.
 */
(function () {
  'use strict';

  var DB_NAME = 'konbit-collect';
  var DB_VERSION = 1;
  var OUTBOX = 'outbox';
  var DRAFTS = 'drafts';
  var TOKEN_URL = '/collect/token';
  var BASE_DELAY = 5000;           // first retry after about 5 s
  var MAX_DELAY = 15 * 60 * 1000;  // never wait more than 15 min between tries
  var REQUEST_TIMEOUT = 60000;     // slow links: a minute per request
  var KEEP_SENT_DAYS = 30;
  var REFUSED_STATUSES = [400, 404, 409, 413, 422];

  var dbPromise = null;
  var listeners = [];
  var channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('konbit-collect') : null;
  var timer = null;
  var flushing = null;
  var state = {authNeeded: false, lastFlush: null, username: null};

  function open() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      if (!window.indexedDB) {
        reject(new Error('This browser cannot store interviews (no IndexedDB).'));
        return;
      }
      var request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, {keyPath: 'key'});
        if (!db.objectStoreNames.contains(DRAFTS)) db.createObjectStore(DRAFTS, {keyPath: 'key'});
      };
      request.onsuccess = function () {
        var db = request.result;
        db.onversionchange = function () { db.close(); dbPromise = null; };
        resolve(db);
      };
      request.onerror = function () { reject(request.error); };
      request.onblocked = function () { reject(new Error('The interview store is blocked by another tab: close it.')); };
    });
    dbPromise.catch(function () { dbPromise = null; });
    return dbPromise;
  }

  // Run fn(stores) in one transaction; resolves with fn's result once the transaction commits.
  function tx(names, mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(names, mode);
        var stores = {};
        names.forEach(function (n) { stores[n] = t.objectStore(n); });
        var result;
        try {
          result = fn(stores);
        } catch (err) {
          t.abort();
          reject(err);
          return;
        }
        t.oncomplete = function () {
          if (result && typeof result.then === 'function') result.then(resolve, reject); else resolve(result);
        };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error || new Error('storage transaction aborted')); };
      });
    });
  }

  function req(request) {
    return new Promise(function (resolve, reject) {
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function getAll(name) {
    var out;
    return tx([name], 'readonly', function (s) {
      out = req(s[name].getAll());
      return out;
    });
  }

  function changed() {
    if (channel) channel.postMessage('changed');
    notify();
  }

  function notify() {
    listeners.slice().forEach(function (fn) {
      try { fn(); } catch (err) { console.warn('queue listener failed', err); }
    });
  }

  if (channel) channel.onmessage = function () { notify(); };

  // --- outbox ------------------------------------------------------------------------

  function finish(draftKey, item) {
    var now = new Date().toISOString();
    var row = Object.assign({status: 'waiting', attempts: 0, next_at: 0, error: '', http_status: null,
      created_at: now, sent_at: null}, item);
    return tx([OUTBOX, DRAFTS], 'readwrite', function (s) {
      s[OUTBOX].put(row);
      if (draftKey) s[DRAFTS].delete(draftKey);
    }).then(function () { changed(); return row; });
  }

  function put(item) {
    return tx([OUTBOX], 'readwrite', function (s) { s[OUTBOX].put(item); });
  }

  function get(name, key) {
    return tx([name], 'readonly', function (s) { return req(s[name].get(key)); });
  }

  function items() {
    return getAll(OUTBOX).then(function (rows) {
      rows.sort(function (a, b) { return a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0; });
      return rows;
    });
  }

  function counts() {
    return items().then(function (rows) {
      var c = {waiting: 0, sent: 0, refused: 0};
      rows.forEach(function (r) { c[r.status] = (c[r.status] || 0) + 1; });
      return c;
    });
  }

  function remove(key) {
    return tx([OUTBOX], 'readwrite', function (s) { s[OUTBOX].delete(key); }).then(changed);
  }

  // Put a refused interview back in line (after the supervisor sorted out the conflict, say).
  function retry(key) {
    return get(OUTBOX, key).then(function (row) {
      if (!row) return null;
      row.status = 'waiting';
      row.attempts = 0;
      row.next_at = 0;
      return put(row).then(changed);
    });
  }

  function prune() {
    var limit = Date.now() - KEEP_SENT_DAYS * 86400000;
    return tx([OUTBOX], 'readwrite', function (s) {
      s[OUTBOX].openCursor().onsuccess = function (event) {
        var cursor = event.target.result;
        if (!cursor) return;
        var row = cursor.value;
        if (row.status === 'sent' && row.sent_at && Date.parse(row.sent_at) < limit) cursor.delete();
        cursor.continue();
      };
    });
  }

  // --- drafts ------------------------------------------------------------------------

  function saveDraft(draft) {
    draft.updated_at = new Date().toISOString();
    return tx([DRAFTS], 'readwrite', function (s) { s[DRAFTS].put(draft); }).then(function () {
      if (channel) channel.postMessage('changed');
    });
  }

  function getDraft(key) { return get(DRAFTS, key); }

  function drafts() {
    return getAll(DRAFTS).then(function (rows) {
      rows.sort(function (a, b) { return a.updated_at < b.updated_at ? 1 : -1; });
      return rows;
    });
  }

  function deleteDraft(key) {
    return tx([DRAFTS], 'readwrite', function (s) { s[DRAFTS].delete(key); }).then(changed);
  }

  // --- sending -----------------------------------------------------------------------

  function backoff(attempts) {
    var delay = Math.min(MAX_DELAY, BASE_DELAY * Math.pow(2, Math.max(0, attempts - 1)));
    return Math.round(delay * (0.75 + Math.random() * 0.5));
  }

  function pageToken() {
    try {
      return JSON.parse(document.body.getAttribute('hx-headers') || '{}')['X-CSRF-Token'] || '';
    } catch (err) {
      return '';
    }
  }

  function timedFetch(url, options) {
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var handle = null;
    if (controller) {
      options.signal = controller.signal;
      handle = setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT);
    }
    return fetch(url, options).then(function (response) {
      if (handle) clearTimeout(handle);
      return response;
    }, function (err) {
      if (handle) clearTimeout(handle);
      throw err;
    });
  }

  // Who is logged in, and a CSRF token for this session; null when there is no network.
  function session() {
    return timedFetch(TOKEN_URL, {credentials: 'same-origin', cache: 'no-store', headers: {'Accept': 'application/json'}})
      .then(function (response) {
        if (response.status === 401 || response.status === 403) return {auth: false};
        if (!response.ok) return null;
        return response.json().then(function (body) {
          return {auth: true, token: body.csrf_token || pageToken(), username: body.username};
        });
      }, function () { return null; });
  }

  function describe(body, status) {
    var detail = body && body.detail;
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) {
      return detail.map(function (d) { return d && (d.msg || d.message) ? (d.loc ? d.loc.join('.') + ': ' : '') + (d.msg || d.message) : String(d); }).join('; ');
    }
    if (detail && typeof detail === 'object') return detail.message || JSON.stringify(detail);
    return 'HTTP ' + status;
  }

  function send(item, token) {
    return timedFetch(item.url, {
      method: item.method || 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: {'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': token},
      body: JSON.stringify(item.payload)
    }).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (err) { body = null; }
        return {status: response.status, body: body};
      });
    }, function (err) {
      return {status: 0, error: err};
    });
  }

  // Send one item; resolves with 'ok', 'refused', 'retry', 'offline' or 'auth'.
  function deliver(item, sessionInfo) {
    return send(item, sessionInfo.token).then(function (res) {
      if (res.status === 403) {
        // A page from the offline cache may carry an old token: fetch a fresh one, once.
        return session().then(function (fresh) {
          if (!fresh || !fresh.auth) return res;
          sessionInfo.token = fresh.token;
          return send(item, fresh.token);
        });
      }
      return res;
    }).then(function (res) {
      item.http_status = res.status || null;
      if (res.status >= 200 && res.status < 300) {
        item.status = 'sent';
        item.sent_at = new Date().toISOString();
        item.error = '';
        item.server = res.body && typeof res.body === 'object' ? {id: res.body.id, status: res.body.status} : null;
        return put(item).then(function () { return 'ok'; });
      }
      if (REFUSED_STATUSES.indexOf(res.status) >= 0) {
        item.status = 'refused';
        item.error = describe(res.body, res.status);
        return put(item).then(function () { return 'refused'; });
      }
      item.attempts = (item.attempts || 0) + 1;
      item.next_at = Date.now() + backoff(item.attempts);
      var outcome = 'retry';
      if (res.status === 0) {
        item.error = 'No connection to the server.';
        outcome = 'offline';
      } else if (res.status === 401 || res.status === 403) {
        item.error = 'Log in again to send.';
        outcome = 'auth';
      } else {
        item.error = 'The server could not take it (' + res.status + '); it will be sent again.';
      }
      return put(item).then(function () { return outcome; });
    });
  }

  function flushOnce(force) {
    return items().then(function (rows) {
      var now = Date.now();
      var due = rows.filter(function (r) { return r.status === 'waiting' && (force || !r.next_at || r.next_at <= now); });
      if (!due.length) return null;
      // The phone knows it has no network: don't try (and don't fill the console with failures).
      var known = navigator.onLine === false ? Promise.resolve(null) : session();
      return known.then(function (info) {
        if (info === null) {
          // No network: count the try, wait for `online` or the timer.
          return Promise.all(due.map(function (r) {
            r.attempts = (r.attempts || 0) + 1;
            r.next_at = Date.now() + backoff(r.attempts);
            r.error = 'No connection to the server.';
            return put(r);
          }));
        }
        state.authNeeded = !info.auth;
        if (!info.auth) return null;
        state.username = info.username;
        due.reverse();  // oldest first
        var chain = Promise.resolve('ok');
        due.forEach(function (item) {
          chain = chain.then(function (previous) {
            if (previous === 'offline' || previous === 'auth') return previous;
            if (item.username && item.username !== info.username) return previous;  // another enumerator's
            return deliver(item, info).then(function (outcome) {
              if (outcome === 'auth') state.authNeeded = true;
              notify();
              return outcome;
            });
          });
        });
        return chain;
      });
    }).then(function () {
      state.lastFlush = new Date().toISOString();
      return prune();
    });
  }

  function flush(options) {
    var force = !!(options && options.force);
    if (flushing) return flushing;
    var run = function () { return flushOnce(force); };
    var locked = navigator.locks && navigator.locks.request
      ? navigator.locks.request('konbit-collect-outbox', {ifAvailable: true}, function (lock) {
        return lock ? run() : null;  // another tab is sending
      })
      : run();
    flushing = Promise.resolve(locked).catch(function (err) {
      console.warn('sending the queue failed', err);
    }).then(function () {
      flushing = null;
      changed();
      schedule();
    });
    return flushing;
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    timer = null;
    items().then(function (rows) {
      var next = null;
      rows.forEach(function (r) {
        if (r.status === 'waiting') next = next === null ? (r.next_at || 0) : Math.min(next, r.next_at || 0);
      });
      if (next === null) return;
      var delay = Math.max(1000, Math.min(MAX_DELAY, next - Date.now()));
      timer = setTimeout(function () { flush(); }, delay);
    }).catch(function () {});
  }

  var started = false;

  function start() {
    if (started) return flushing || Promise.resolve();
    started = true;
    if (navigator.storage && navigator.storage.persist) {
      navigator.storage.persist().catch(function () {});
    }
    window.addEventListener('online', function () { flush({force: true}); });
    document.addEventListener('visibilitychange', function () {
      if (document.visibilityState === 'visible' && navigator.onLine !== false) flush();
    });
    return flush({force: true});
  }

  function subscribe(fn) {
    listeners.push(fn);
    return function () { listeners = listeners.filter(function (f) { return f !== fn; }); };
  }

  window.KonbitQueue = {
    open: open,
    finish: finish,
    items: items,
    counts: counts,
    remove: remove,
    retry: retry,
    saveDraft: saveDraft,
    getDraft: getDraft,
    drafts: drafts,
    deleteDraft: deleteDraft,
    flush: flush,
    start: start,
    subscribe: subscribe,
    state: state,
    backoff: backoff
  };
}());
