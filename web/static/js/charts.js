// Draws the report's charts: each element with a data-figure attribute holds a plotly figure (made
// by web/charts.py) as JSON. No inline script: the CSP forbids it.
//
// plotly.js (330 KB even compressed) is not a <script> of the page: that would hold the page's
// scripts (htmx, the filters) until it arrived, 10 s and more on slow 3G. This script, tagged
// data-plotly="<its URL>", fetches it only when the page has a chart to draw, after the page is
// ready; the tables beside the charts hold every number meanwhile (and when it never comes).
(function () {
  "use strict";
  var script = document.currentScript;
  var source = script && script.getAttribute("data-plotly");
  var loading = null;

  function loadPlotly(then) {
    if (window.Plotly) { then(); return; }
    if (!source) return;
    if (!loading) {
      loading = [];
      var tag = document.createElement("script");
      tag.src = source;
      tag.async = true;
      tag.onload = function () { var waiting = loading; loading = null; waiting.forEach(function (f) { f(); }); };
      tag.onerror = function () { loading = null; }; // offline: the tables say it all
      document.head.appendChild(tag);
    }
    loading.push(then);
  }

  function draw() {
    if (!document.querySelector("[data-figure]:not([data-drawn])")) return;
    loadPlotly(function () {
      document.querySelectorAll("[data-figure]:not([data-drawn])").forEach(function (target) {
        var figure = JSON.parse(target.getAttribute("data-figure"));
        target.setAttribute("data-drawn", "1");
        window.Plotly.newPlot(target, figure.data, figure.layout, {displayModeBar: false, responsive: true});
      });
      document.documentElement.setAttribute("data-charts-drawn", "1");
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
  // After an HTMX swap of the report: draw the new charts.
  document.addEventListener("htmx:afterSettle", draw);

  // Printing: the data tables sit in closed <details>, which print with no height. Where the
  // browser has ::details-content, dashboard.css shows them; elsewhere they are opened for the
  // print and folded again after it.
  if (!(window.CSS && CSS.supports && CSS.supports("selector(::details-content)"))) {
    window.addEventListener("beforeprint", function () {
      document.querySelectorAll("details.dash-table:not([open])").forEach(function (d) {
        d.setAttribute("data-opened-for-print", "");
        d.open = true;
      });
    });
    window.addEventListener("afterprint", function () {
      document.querySelectorAll("details[data-opened-for-print]").forEach(function (d) {
        d.removeAttribute("data-opened-for-print");
        d.open = false;
      });
    });
  }
})();
