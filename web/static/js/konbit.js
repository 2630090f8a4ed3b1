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
  document.addEventListener("htmx:sendError", function () {
    window.alert("No connection to the server. Check the network and try again.");
  });
})();
