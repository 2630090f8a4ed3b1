// Small behaviours that need no framework; no inline scripts anywhere (the CSP forbids them).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".menu-toggle");
    if (!toggle) return;
    var nav = document.getElementById(toggle.getAttribute("aria-controls"));
    var open = nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
  // A server error in an HTMX request: say so instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var message = status === 403 ? "Not allowed, or the page has expired: reload it." :
      status === 413 ? "That is too large to send." : "The server could not do that (" + status + "). Nothing was saved.";
    window.alert(message);
  });
  // A "Print" button (run sheets): the inline-script-free way to call the browser's print dialog.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) { window.print(); }
  });
  document.addEventListener("htmx:sendError", function () {
    window.alert("No connection to the server. Check the network and try again.");
  });
  // A table wider than the phone scrolls inside its own box (konbit.css). A keyboard user scrolls a box
  // by focusing it (WCAG 2.1.1), so every box that overflows gets a tab stop, and loses it once it fits:
  // after the page loads, after an HTMX swap, when a <details> opens and when the screen turns.
  var SCROLLERS = ".table-wrap, main .table, main pre, .variant .text.long";
  function overflows(el) {
    var style = window.getComputedStyle(el);
    return (/auto|scroll/.test(style.overflowX) && el.scrollWidth > el.clientWidth + 1) ||
      (/auto|scroll/.test(style.overflowY) && el.scrollHeight > el.clientHeight + 1);
  }
  function scrollStops() {
    var boxes = document.querySelectorAll(SCROLLERS);
    for (var i = 0; i < boxes.length; i++) {
      var el = boxes[i];
      if (el.hasAttribute("tabindex") && !el.hasAttribute("data-scroll-stop")) continue;  // the page's own
      var wide = overflows(el);
      if (wide && !el.hasAttribute("data-scroll-stop")) {
        el.setAttribute("tabindex", "0");
        el.setAttribute("data-scroll-stop", "");
      } else if (!wide && el.hasAttribute("data-scroll-stop")) {
        el.removeAttribute("tabindex");
        el.removeAttribute("data-scroll-stop");
      }
    }
  }
  var pending = 0;
  function later() { window.clearTimeout(pending); pending = window.setTimeout(scrollStops, 150); }
  scrollStops();
  window.addEventListener("load", scrollStops);
  window.addEventListener("resize", later);
  document.addEventListener("htmx:afterSettle", scrollStops);
  document.addEventListener("toggle", scrollStops, true);  // <details> opening (toggle does not bubble)
})();
