/*
 * Konbit's service worker: the data-entry pages keep working with no connection.
 *
 * Served at /sw.js (see web/routes/collect.py) and registered by collect.js with the
 * scope /collect, so it controls the enumerator's pages only. The route writes each asset's
 * content-hashed URL (web/assets.py) in place of its plain one below, and a VERSION made from
 * them: a new asset makes a new worker, and the old caches go.
 *
 * - install: precache the assets every form needs (JS, CSS, htmx, icon, manifest) under the
 *   hashed URLs the page itself uses. The page loaded them a moment ago with an immutable
 *   cache lifetime, so they come from the browser's HTTP cache, not the network again.
 * - pages under /collect (the list, each form with its embedded questionnaire, a
 *   correction): network first, so a connected phone always gets fresh data, with a
 *   timeout on slow links; on failure the cached copy (query string ignored, so a
 *   "resume draft" link works offline too).
 * - /static/ under a hashed name: cache first, never revalidated (those bytes never change);
 *   other /static/ URLs: cache first, refreshed in the background (stale-while-revalidate).
 * - message {type: 'precache', urls}: cache those pages now, so that every open form
 *   works offline once the list has been opened; a page cached in the last FRESH_MS (the one
 *   just opened, through this worker) is not fetched again.
 * Nothing else is touched: API calls and posts always go to the network, and the
 * interviews themselves wait in IndexedDB (offline-queue.js), not here.
 */
'use strict';

var VERSION = 'konbit-collect-v1';
var STATIC_CACHE = VERSION + '-static';
var PAGE_CACHE = VERSION + '-pages';
var NETWORK_TIMEOUT = 6000;
var FRESH_MS = 10 * 60 * 1000;
// A content-hashed name (web/assets.py): /static/js/collect.0123456789.js
var HASHED = /\.[0-9a-f]{10}\.[A-Za-z0-9]+$/;
var ASSETS = [
  '/static/css/konbit.css',
  '/static/css/collect.css',
  '/static/js/konbit.js',
  '/static/js/xlsexpr.js',
  '/static/js/offline-queue.js',
  '/static/js/collect.js',
  '/static/vendor/htmx/htmx.min.js',
  '/static/img/konbit.svg',
  '/static/img/konbit-192.png',
  '/static/manifest.webmanifest'
];

self.addEventListener('install', function (event) {
  event.waitUntil(
    caches.open(STATIC_CACHE).then(function (cache) {
      // The default cache mode: what the page loaded comes from the HTTP cache.
      return cache.addAll(ASSETS);
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener('activate', function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (key) {
        return key.indexOf('konbit-collect-') === 0 && key.indexOf(VERSION + '-') !== 0;
      }).map(function (key) { return caches.delete(key); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function isPage(url) {
  // Older submissions (/collect?offset=..., /collect/submissions) are read online only: they are not the page.
  if (url.pathname === '/collect') return !url.search;
  return url.pathname.indexOf('/collect/') === 0 && url.pathname !== '/collect/token' &&
    url.pathname !== '/collect/submissions';
}

function pageKey(url) {
  return url.origin + url.pathname;
}

// A page worth keeping: a real 200 page, not the login form of an expired session.
function cacheable(response) {
  return response && response.status === 200 && response.type === 'basic' && !response.redirected;
}

// Cached in the last FRESH_MS: the server's Date header of the stored copy.
function fresh(response) {
  var date = response && Date.parse(response.headers.get('date') || '');
  return !!date && Date.now() - date < FRESH_MS;
}

function fetchPage(request, url) {
  return fetch(request).then(function (response) {
    if (cacheable(response)) {
      var copy = response.clone();
      caches.open(PAGE_CACHE).then(function (cache) { return cache.put(pageKey(url), copy); });
    }
    return response;
  });
}

function networkFirst(request, url) {
  var network = fetchPage(request, url);
  var cached = caches.open(PAGE_CACHE).then(function (cache) { return cache.match(pageKey(url), {ignoreSearch: true}); });
  return new Promise(function (resolve, reject) {
    var settled = false;
    function fallback() {
      cached.then(function (hit) {
        if (settled) return;
        if (hit) {
          settled = true;
          resolve(hit);
        }
      });
    }
    var timeout = setTimeout(fallback, NETWORK_TIMEOUT);
    network.then(function (response) {
      clearTimeout(timeout);
      // An error page (5xx) from a struggling server: the cached form is more useful.
      if (response.status >= 500) {
        cached.then(function (hit) {
          if (!settled) { settled = true; resolve(hit || response); }
        });
        return;
      }
      if (!settled) { settled = true; resolve(response); }
    }, function (err) {
      clearTimeout(timeout);
      cached.then(function (hit) {
        if (settled) return;
        settled = true;
        if (hit) resolve(hit); else reject(err);
      });
    });
  });
}

function cacheFirst(request) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.match(request).then(function (hit) {
      return hit || fetch(request).then(function (response) {
        if (response && response.status === 200) cache.put(request, response.clone());
        return response;
      });
    });
  });
}

function staleWhileRevalidate(request, event) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.match(request, {ignoreSearch: true}).then(function (hit) {
      var network = fetch(request).then(function (response) {
        if (response && response.status === 200) cache.put(request, response.clone());
        return response;
      });
      if (hit) {
        event.waitUntil(network.catch(function () {}));
        return hit;
      }
      return network;
    });
  });
}

self.addEventListener('fetch', function (event) {
  var request = event.request;
  if (request.method !== 'GET') return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf('/static/') === 0) {
    event.respondWith(HASHED.test(url.pathname) ? cacheFirst(request) : staleWhileRevalidate(request, event));
    return;
  }
  if (request.mode === 'navigate' && isPage(url)) {
    event.respondWith(networkFirst(request, url));
  }
});

self.addEventListener('message', function (event) {
  var data = event.data || {};
  if (data.type !== 'precache' || !Array.isArray(data.urls)) return;
  var urls = data.urls.filter(function (u) {
    try { return isPage(new URL(u, self.location.origin)); } catch (err) { return false; }
  });
  event.waitUntil(
    caches.open(PAGE_CACHE).then(function (cache) {
      return Promise.all(urls.map(function (u) {
        var url = new URL(u, self.location.origin);
        return cache.match(pageKey(url)).then(function (hit) {
          return fresh(hit) ? null : fetch(url.href, {credentials: 'same-origin'});
        }).then(function (response) {
          if (response === null) return null;
          if (cacheable(response)) return cache.put(pageKey(url), response);
          return null;
        }).catch(function () { return null; });
      }));
    }).then(function () {
      if (event.source && event.source.postMessage) event.source.postMessage({type: 'precached', urls: urls});
    })
  );
});
