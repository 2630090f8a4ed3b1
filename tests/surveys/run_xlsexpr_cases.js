#!/usr/bin/env node
/*
 * Runs expression cases through web/static/js/xlsexpr.js for
 * tests/surveys/test_expressions.py.
 *
 * Usage: node run_xlsexpr_cases.js INPUT.json > OUTPUT.json
 *
 * INPUT is {"cases": [{expr, kind, values, current, today, options, tree}]} with values
 * already merged and tree the Python to_json() form (or null when Python
 * could not parse the expression); options (now, repeats, position, choice,
 * choices, seed) are passed to evaluate() beside today.  For each case the output holds:
 *   parsed:   the JS parse() tree, or an encoded error
 *   viaText:  evaluate(parse(expr)) encoded
 *   viaTree:  evaluate(fromJSON(python tree)) encoded, or null
 * Encoded outcomes: {type: "boolean"|"number"|"string", value} (non-finite
 * numbers as the strings "NaN", "Infinity", "-Infinity") or
 * {type: "error", name, message, reason, position}.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const XLSExpr = require(path.join(__dirname, '..', '..', 'web', 'static', 'js', 'xlsexpr.js'));

function encodeValue(value) {
  if (typeof value === 'number') {
    if (isNaN(value) || !isFinite(value)) {
      return {type: 'number', value: String(value)};
    }
    return {type: 'number', value: value === 0 ? 0 : value};
  }
  return {type: typeof value, value: value};
}

function encodeError(error) {
  return {
    type: 'error',
    name: error.name,
    message: error.message,
    reason: error.reason === undefined ? null : error.reason,
    position: error.position === undefined ? null : error.position
  };
}

function attempt(fn) {
  try {
    return encodeValue(fn());
  } catch (error) {
    return encodeError(error);
  }
}

function runCase(c) {
  const options = Object.assign({today: c.today}, c.options || {});
  const out = {parsed: null, viaText: null, viaTree: null};
  let tree = null;
  try {
    tree = XLSExpr.parse(c.expr, c.kind);
    out.parsed = {type: 'tree', value: tree};
  } catch (error) {
    out.parsed = encodeError(error);
  }
  if (tree !== null) {
    out.viaText = attempt(function () {
      return XLSExpr.evaluate(tree, c.values, c.current, options);
    });
  }
  if (c.tree !== null && c.tree !== undefined) {
    out.viaTree = attempt(function () {
      // Round-trip through JSON text, as the browser receives it.
      const received = XLSExpr.fromJSON(JSON.stringify(c.tree));
      return XLSExpr.evaluate(received, c.values, c.current, options);
    });
  }
  return out;
}

function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = input.cases.map(runCase);
  process.stdout.write(JSON.stringify({results: results}));
}

main();
