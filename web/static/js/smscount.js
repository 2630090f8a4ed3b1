/*
 * Konbit live SMS counter: encoding (GSM-7 / UCS-2) and segments.
 *
 * Mirrors content/sms.py exactly (checked against tests/content/sms_cases.json
 * by tests/content/test_smscount_js.py).  Rules, from 3GPP TS 23.038 / 23.040:
 *
 * - The text is counted as given (no normalisation).
 * - GSM-7 if every character is in the default alphabet (1 septet) or its
 *   extension table: ^ { } \ [ ~ ] | euro sign, form feed (2 septets each).
 *   160 septets in a single SMS, 153 per part when concatenated; an escape
 *   pair is never split across parts.
 * - Otherwise UCS-2, counted in UTF-16 code units (an emoji outside the BMP is
 *   2): 70 in a single SMS, 67 per part; a surrogate pair is never split
 *   across parts; a lone surrogate counts 1.
 * - Empty text: 0 units, 0 segments, remaining = 160.
 *
 * Plain ES2017, no dependencies.
 *   KonbitSMS.analyse(text) -> {encoding, units, segments, perSegment,
 *                               remaining, nonGsmChars}
 * Exposed as window.KonbitSMS in the browser and module.exports under node.
 */
(function (root, factory) {
  'use strict';
  var api = factory();
  if (typeof module === 'object' && module && module.exports) {
    module.exports = api;
  }
  if (root) {
    root.KonbitSMS = api;
  }
})(typeof window !== 'undefined' ? window : (typeof self !== 'undefined' ? self : null), function () {
  'use strict';

  var GSM7 = 'GSM-7';
  var UCS2 = 'UCS-2';
  var GSM7_SINGLE = 160;
  var GSM7_MULTI = 153;
  var UCS2_SINGLE = 70;
  var UCS2_MULTI = 67;

  // Default alphabet in code order 0x00..0x7F; 0x1B (ESC) is removed below.
  var TABLE =
    '@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\u000a\u00d8\u00f8\u000d\u00c5\u00e5' +
    '\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\u001b\u00c6\u00e6\u00df\u00c9' +
    ' !"#\u00a4%&\'()*+,-./' +
    '0123456789:;<=>?' +
    '\u00a1ABCDEFGHIJKLMNO' +
    'PQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7' +
    '\u00bfabcdefghijklmno' +
    'pqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0';
  var EXTENSION = '\u000c^{}\\[~]|\u20ac';

  var BASIC = new Set(TABLE.split(''));
  BASIC.delete('\u001b');
  var EXT = new Set(EXTENSION.split(''));

  function split(costs, single, multi) {
    var total = 0;
    var i;
    for (i = 0; i < costs.length; i++) {
      total += costs[i];
    }
    if (total === 0) {
      return { units: 0, segments: 0, perSegment: single, remaining: single };
    }
    if (total <= single) {
      return { units: total, segments: 1, perSegment: single, remaining: single - total };
    }
    var segments = 1;
    var used = 0;
    for (i = 0; i < costs.length; i++) {
      if (used + costs[i] > multi) { // never split an escape or surrogate pair
        segments += 1;
        used = 0;
      }
      used += costs[i];
    }
    return { units: total, segments: segments, perSegment: multi, remaining: multi - used };
  }

  function analyse(text) {
    if (typeof text !== 'string') {
      throw new TypeError('KonbitSMS.analyse expects a string');
    }
    var septets = [];
    var units = [];
    var nonGsm = [];
    var seen = new Set();
    // for...of walks code points; a lone surrogate comes out on its own.
    for (var ch of text) {
      units.push(ch.length);
      if (BASIC.has(ch)) {
        septets.push(1);
      } else if (EXT.has(ch)) {
        septets.push(2);
      } else if (!seen.has(ch)) {
        seen.add(ch);
        nonGsm.push(ch);
      }
    }
    var r;
    var encoding;
    if (nonGsm.length === 0) {
      encoding = GSM7;
      r = split(septets, GSM7_SINGLE, GSM7_MULTI);
    } else {
      encoding = UCS2;
      r = split(units, UCS2_SINGLE, UCS2_MULTI);
    }
    return {
      encoding: encoding,
      units: r.units,
      segments: r.segments,
      perSegment: r.perSegment,
      remaining: r.remaining,
      nonGsmChars: nonGsm
    };
  }

  return {
    analyse: analyse,
    GSM7: GSM7,
    UCS2: UCS2,
    isGsm7Char: function (ch) { return BASIC.has(ch) || EXT.has(ch); }
  };
});
