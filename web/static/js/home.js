// The home page's "Unsent interviews on this phone": counted in the phone's own store
// (offline-queue.js), since the server cannot know what has not reached it. Shown only when
// the store holds something; the collect page sends them.
(function () {
  "use strict";
  function show() {
    var card = document.querySelector("[data-phone-queue]");
    if (!card || !window.KonbitQueue) return;
    window.KonbitQueue.counts().then(function (c) {
      var waiting = c.waiting || 0, refused = c.refused || 0;
      card.querySelector("[data-phone-waiting]").textContent = String(waiting);
      if (refused) {
        card.querySelector("[data-phone-note]").textContent =
          refused + " refused by the server: open the queue to see why.";
      }
      card.hidden = waiting + refused === 0;
    }).catch(function () { /* no IndexedDB (private window): nothing to show */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    show();
    if (window.KonbitQueue) window.KonbitQueue.subscribe(show);
  });
})();
