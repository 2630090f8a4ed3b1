// Draws the report's charts: each element with a data-figure attribute holds a plotly figure (made
// by web/charts.py) as JSON. No inline script: the CSP forbids it.
(function () {
  "use strict";
  function draw() {
    if (!window.Plotly) return; // plotly.js did not load (offline): the tables beside say it all
    document.querySelectorAll("[data-figure]:not([data-drawn])").forEach(function (target) {
      var figure = JSON.parse(target.getAttribute("data-figure"));
      target.setAttribute("data-drawn", "1");
      window.Plotly.newPlot(target, figure.data, figure.layout, {displayModeBar: false, responsive: true});
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  // After an HTMX swap of the report: draw the new charts.
  document.addEventListener("htmx:afterSettle", draw);
})();
