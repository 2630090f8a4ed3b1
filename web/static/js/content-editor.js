/*
 * Konbit content editor: instant counters while typing, before the server's
 * check (the HTMX call to /content/counter) comes back.
 *
 * - SMS: encoding (GSM-7 / UCS-2) and segments from window.KonbitSMS.analyse
 *   (smscount.js, the exact mirror of content/sms.py), counted with every
 *   {{ variable }} replaced by its longest value (data-longest) and the
 *   {% if %} tags left out: an instant approximation of the server's exact
 *   worst case, which the HTMX call brings a moment later.
 * - Social: characters (code points, NFC) against the platform's limit; X's
 *   weighting of links and emoji is left to the server.
 * - Radio: words (numbers of 3+ digits read digit by digit) at the language's
 *   speaking rate, against the chosen spot length.
 * Also: [data-confirm] on a form's button asks before submitting, and
 * [data-print] prints the page. No inline scripts: the CSP forbids them.
 */
(function () {
  "use strict";

  var WORD = /[^\s.,;:!?()"«»\u201c\u201d]+/g;

  function spokenWords(text) {
    var count = 0;
    var tokens = text.match(WORD) || [];
    for (var i = 0; i < tokens.length; i++) {
      var token = tokens[i];
      if (!/[0-9A-Za-z\u00c0-\u024f]/.test(token)) continue;
      if (/^[0-9][0-9\-'\u2019]*$/.test(token)) {
        var digits = token.replace(/[^0-9]/g, "").length;
        count += digits >= 3 ? digits : 1;
      } else {
        count += 1;
      }
    }
    return count;
  }

  function codePoints(text) {
    var normalised = text.normalize ? text.normalize("NFC") : text;
    return Array.from(normalised).length;
  }

  var VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)[^}]*\}\}/g;
  var TAG = /\{%[^%]*%\}|\{#[^#]*#\}/g;

  function withLongestValues(area, text) {
    var values = {};
    try {
      values = JSON.parse(area.getAttribute("data-longest") || "{}");
    } catch (e) {
      values = {};
    }
    return text.replace(TAG, "").replace(VARIABLE, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  function set(root, selector, value) {
    var el = root.querySelector(selector);
    if (el) el.textContent = String(value);
  }

  function update(area) {
    var output = document.getElementById(area.getAttribute("data-live-counter"));
    if (!output) return;
    var channel = area.getAttribute("data-channel");
    var text = channel === "sms" || channel === "social" ? withLongestValues(area, area.value) : area.value;
    if (channel === "sms" && window.KonbitSMS) {
      var a = window.KonbitSMS.analyse(text);
      var max = parseInt(area.getAttribute("data-max-segments") || "0", 10);
      set(output, "[data-encoding]", a.encoding);
      set(output, "[data-units]", a.units);
      set(output, "[data-unit-name]", a.encoding === "GSM-7" ? "characters" : "UTF-16 units");
      set(output, "[data-segments]", a.segments);
      set(output, "[data-remaining]", a.remaining);
      set(output, "[data-non-gsm]", a.nonGsmChars && a.nonGsmChars.length ?
        "(not in the GSM alphabet: " + a.nonGsmChars.slice(0, 10).join(" ") + ")" : "");
      output.classList.toggle("ucs2", a.encoding !== "GSM-7");
      output.classList.toggle("over", max > 0 && a.segments > max);
    } else if (channel === "social") {
      var limit = parseInt(area.getAttribute("data-limit") || "0", 10);
      var length = codePoints(text);
      set(output, "[data-length]", length);
      output.classList.toggle("over", limit > 0 && length > limit);
    } else if (channel === "radio") {
      var rate = parseFloat(area.getAttribute("data-rate") || "0");
      var words = spokenWords(withLongestValues(area, text));
      var select = document.querySelector("[data-target-select]");
      var target = select ? parseInt(select.value, 10) : 0;
      set(output, "[data-words]", words);
      if (rate > 0) {
        var seconds = Math.round(words * 60 / rate);
        set(output, "[data-seconds]", seconds);
        output.classList.toggle("over", target > 0 && seconds > target * 1.1);
      }
      if (target) set(output, "[data-target]", target);
    } else {
      set(output, "[data-words]", spokenWords(text));
    }
  }

  function updateAll() {
    var areas = document.querySelectorAll("textarea[data-live-counter]");
    for (var i = 0; i < areas.length; i++) update(areas[i]);
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-live-counter]")) update(event.target);
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-target-select]")) updateAll();
  });
  document.addEventListener("click", function (event) {
    var confirmer = event.target.closest && event.target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    if (event.target.closest && event.target.closest("[data-print]")) window.print();
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", updateAll);
  } else {
    updateAll();
  }
})();
