/*
 * xlsexpr.js -- safe evaluation of the XLSForm expression subset used by
 * Konbit survey forms (relevant / constraint), offline in the browser.
 *
 * This is a line-by-line mirror of surveys/expressions.py; the semantics are
 * documented in that module's docstring and both implementations are run on
 * tests/surveys/expression_cases.json.  Change them together.
 *
 * Plain ES2017, no dependencies, no eval / new Function.
 *
 *   XLSExpr.parse(text)            -> tree (the JSON form the server sends)
 *   XLSExpr.fromJSON(treeOrString) -> validated tree
 *   XLSExpr.evaluate(tree, values, current, options) -> boolean|number|string
 *       values: {fieldName: string | string[] | null}; options.today:
 *       'YYYY-MM-DD' or a Date (defaults to the phone's local date)
 *   XLSExpr.truthy(result)         -> boolean (XPath boolean())
 *   XLSExpr.references(tree)       -> field names, in source order
 *   XLSExpr.ExpressionError        -> .message (with position), .reason,
 *                                     .position (code points, or null)
 */
(function (factory) {
  'use strict';
  var api = factory();
  if (typeof module === 'object' && module && module.exports) {
    module.exports = api;
  }
  if (typeof window !== 'undefined') {
    window.XLSExpr = api;
  }
}(function () {
  'use strict';

  const MAX_EXPRESSION_LENGTH = 10000;
  const MAX_DEPTH = 100;
  const MAX_REGEX_PATTERN_LENGTH = 200;
  const MAX_REGEX_INPUT_LENGTH = 2000;
  const MAX_REGEX_PROGRAM = 1000;
  const MAX_REGEX_REPEAT = 100;
  const EQ_TOLERANCE = 1e-12;

  class ExpressionError extends Error {
    constructor(reason, position) {
      const pos = position === undefined ? null : position;
      super(pos === null ? reason : reason + ' at position ' + pos);
      this.name = 'ExpressionError';
      this.reason = reason;
      this.position = pos;
    }
  }

  const BINARY_OPS = ['=', '!=', '<', '<=', '>', '>=', '+', '-', '*', 'div', 'mod'];
  const PRECEDENCE = {
    'or': 1, 'and': 2,
    '=': 3, '!=': 3,
    '<': 4, '<=': 4, '>': 4, '>=': 4,
    '+': 5, '-': 5,
    '*': 6, 'div': 6, 'mod': 6
  };
  const UNARY_PRECEDENCE = 7;

  // name -> [minimum, maximum] number of arguments
  const FUNCTIONS = {
    'true': [0, 0],
    'false': [0, 0],
    'not': [1, 1],
    'if': [3, 3],
    'coalesce': [2, 2],
    'selected': [2, 2],
    'count-selected': [1, 1],
    'string-length': [0, 1],
    'regex': [2, 2],
    'today': [0, 0],
    'number': [0, 1],
    'int': [1, 1],
    'round': [1, 2]
  };

  function has(object, key) {
    return Object.prototype.hasOwnProperty.call(object, key);
  }

  // -------------------------------------------------------------------------
  // Tokenizer (over an array of code points, so positions match Python)
  // -------------------------------------------------------------------------

  const WHITESPACE = ' \t\r\n';
  const NAME_START = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_';
  const NAME_CHARS = NAME_START + '0123456789.-';
  const DIGITS = '0123456789';

  function isIn(ch, chars) {
    return ch !== undefined && chars.indexOf(ch) >= 0;
  }

  function isFieldNameChar(ch, first) {
    if (ch.codePointAt(0) >= 0x80) {
      return true;
    }
    return isIn(ch, first ? NAME_START : NAME_CHARS);
  }

  function token(kind, value, pos, text) {
    return {kind: kind, value: value, pos: pos, text: text};
  }

  function startsWithAt(cps, i, prefix) {
    for (let k = 0; k < prefix.length; k++) {
      if (cps[i + k] !== prefix[k]) {
        return false;
      }
    }
    return true;
  }

  function tokenize(cps) {
    const tokens = [];
    const n = cps.length;
    let i = 0;
    while (i < n) {
      const ch = cps[i];
      const start = i;
      if (isIn(ch, WHITESPACE)) {
        i += 1;
        continue;
      }
      if (ch === '$') {
        i = scanFieldRef(cps, i);
        tokens.push(token('ref', cps.slice(start + 2, i - 1).join(''), start,
                          cps.slice(start, i).join('')));
      } else if (isIn(ch, DIGITS) || (ch === '.' && isIn(cps[i + 1], DIGITS))) {
        while (isIn(cps[i], DIGITS)) {
          i += 1;
        }
        if (cps[i] === '.') {
          i += 1;
          while (isIn(cps[i], DIGITS)) {
            i += 1;
          }
        }
        const text = cps.slice(start, i).join('');
        const value = Number(text);
        if (!isFinite(value)) {
          throw new ExpressionError('number is too large', start);
        }
        tokens.push(token('num', value, start, text));
      } else if (ch === '.') {
        if (cps[i + 1] === '.') {
          throw new ExpressionError("'..' (parent) paths are not supported", start);
        }
        i += 1;
        tokens.push(token('cur', null, start, '.'));
      } else if (ch === "'" || ch === '"') {
        let end = i + 1;
        while (end < n && cps[end] !== ch) {
          end += 1;
        }
        if (end >= n) {
          throw new ExpressionError('unterminated string', start);
        }
        i = end + 1;
        tokens.push(token('str', cps.slice(start + 1, end).join(''), start,
                          cps.slice(start, i).join('')));
      } else if (isIn(ch, NAME_START)) {
        i = scanName(cps, i);
        if (cps[i] === ':' && isIn(cps[i + 1], NAME_START)) {
          i = scanName(cps, i + 1);
        }
        const text = cps.slice(start, i).join('');
        tokens.push(token('name', text, start, text));
      } else if (startsWithAt(cps, i, '!=') || startsWithAt(cps, i, '<=') ||
                 startsWithAt(cps, i, '>=')) {
        i += 2;
        tokens.push(token('op', ch + '=', start, ch + '='));
      } else if (isIn(ch, '=<>+-*')) {
        i += 1;
        tokens.push(token('op', ch, start, ch));
      } else if (isIn(ch, '(),')) {
        i += 1;
        tokens.push(token(ch, ch, start, ch));
      } else if (ch === '/') {
        throw new ExpressionError(
          "unexpected '/' (paths are not supported; use 'div' to divide)", start);
      } else {
        throw new ExpressionError('unexpected character ' + quote(ch), start);
      }
    }
    tokens.push(token('eof', null, n, ''));
    return tokens;
  }

  function scanName(cps, i) {
    i += 1;
    while (isIn(cps[i], NAME_CHARS)) {
      i += 1;
    }
    return i;
  }

  function scanFieldRef(cps, start) {
    const n = cps.length;
    if (cps[start + 1] !== '{') {
      throw new ExpressionError("expected '{' after '$'", start);
    }
    let i = start + 2;
    while (i < n && cps[i] !== '}') {
      if (!isFieldNameChar(cps[i], i === start + 2)) {
        throw new ExpressionError(
          'invalid character ' + quote(cps[i]) + ' in field reference', i);
      }
      i += 1;
    }
    if (i >= n) {
      throw new ExpressionError('unterminated field reference', start);
    }
    if (i === start + 2) {
      throw new ExpressionError('empty field reference', start);
    }
    return i + 1;
  }

  function quote(text) {
    return text === "'" ? '"' + text + '"' : "'" + text + "'";
  }

  function describe(tok) {
    if (tok.kind === 'eof') {
      return 'end of expression';
    }
    const cps = Array.from(tok.text);
    const text = cps.length <= 30 ? tok.text : cps.slice(0, 27).join('') + '...';
    if (tok.kind === 'num') {
      return 'number ' + text;
    }
    if (tok.kind === 'str') {
      return 'string ' + text;
    }
    if (tok.kind === 'ref') {
      return 'field reference ' + text;
    }
    if (tok.kind === 'name') {
      return "name '" + text + "'";
    }
    return quote(text);
  }

  // -------------------------------------------------------------------------
  // Parser (Pratt); produces the JSON tree directly
  // -------------------------------------------------------------------------

  function infixOperator(tok) {
    if (tok.kind === 'op') {
      return tok.value;
    }
    if (tok.kind === 'name' && ['and', 'or', 'div', 'mod'].indexOf(tok.text) >= 0) {
      return tok.text;
    }
    return null;
  }

  function checkDepth(depth, pos) {
    if (depth > MAX_DEPTH) {
      throw new ExpressionError('expression is nested too deeply', pos);
    }
  }

  class Parser {
    constructor(cps) {
      this.tokens = tokenize(cps);
      this.index = 0;
      this.nesting = 0;
    }

    peek() {
      return this.tokens[this.index];
    }

    advance() {
      const tok = this.tokens[this.index];
      this.index += 1;
      return tok;
    }

    parse() {
      const expr = this.expression(0)[0];
      const tok = this.peek();
      if (tok.kind !== 'eof') {
        throw new ExpressionError('unexpected ' + describe(tok), tok.pos);
      }
      return expr;
    }

    // Returns [tree, depth, position]; position is that of the literal token
    // when the whole expression is a (possibly parenthesised) literal, else
    // null -- like the pos of a Python literal node.
    expression(minPrecedence) {
      this.nesting += 1;
      if (this.nesting > MAX_DEPTH) {
        throw new ExpressionError('expression is nested too deeply', this.peek().pos);
      }
      const first = this.prefix();
      let left = first[0];
      let depth = first[1];
      let literalPos = first.length > 2 ? first[2] : null;
      let chain = null;
      for (;;) {
        const tok = this.peek();
        const op = infixOperator(tok);
        if (op === null || PRECEDENCE[op] <= minPrecedence) {
          break;
        }
        this.advance();
        literalPos = null;
        const right = this.expression(PRECEDENCE[op]);
        if (op === 'and' || op === 'or') {
          if (chain !== null && chain[0] === op) {
            chain = chain.concat([right[0]]);
            depth = Math.max(depth, right[1] + 1);
          } else {
            chain = [op, left, right[0]];
            depth = Math.max(depth, right[1]) + 1;
          }
          left = chain;
        } else {
          chain = null;
          left = [op, left, right[0]];
          depth = Math.max(depth, right[1]) + 1;
        }
        checkDepth(depth, tok.pos);
      }
      this.nesting -= 1;
      return [left, depth, literalPos];
    }

    prefix() {
      const tok = this.advance();
      const kind = tok.kind;
      if (kind === 'num') {
        return [['num', tok.value], 1, tok.pos];
      }
      if (kind === 'str') {
        return [['str', tok.value], 1, tok.pos];
      }
      if (kind === 'ref') {
        return [['ref', tok.value], 1];
      }
      if (kind === 'cur') {
        return [['cur'], 1];
      }
      if (kind === 'op' && tok.value === '-') {
        const operand = this.expression(UNARY_PRECEDENCE - 1);
        checkDepth(operand[1] + 1, tok.pos);
        return [['neg', operand[0]], operand[1] + 1];
      }
      if (kind === '(') {
        const inner = this.expression(0);
        this.expect(')');
        return inner;
      }
      if (kind === 'name' && this.peek().kind === '(') {
        return this.call(tok);
      }
      if (kind === 'name' && infixOperator(tok) === null) {
        throw new ExpressionError(
          "unexpected name '" + tok.text + "' (write ${" + tok.text + '} to use a field)',
          tok.pos);
      }
      throw new ExpressionError('unexpected ' + describe(tok), tok.pos);
    }

    call(nameToken) {
      const name = nameToken.text;
      if (!has(FUNCTIONS, name)) {
        throw new ExpressionError("unknown function '" + name + "()'", nameToken.pos);
      }
      this.advance(); // "("
      const args = [];
      const positions = [];
      let depth = 0;
      if (this.peek().kind !== ')') {
        for (;;) {
          const arg = this.expression(0);
          positions.push(arg[2]);
          args.push(arg[0]);
          depth = Math.max(depth, arg[1]);
          if (this.peek().kind !== ',') {
            break;
          }
          this.advance();
        }
      }
      this.expect(')');
      checkCall(name, args, nameToken.pos, positions);
      depth += 1;
      checkDepth(depth, nameToken.pos);
      return [['call', name].concat(args), depth];
    }

    expect(kind) {
      const tok = this.peek();
      if (tok.kind !== kind) {
        throw new ExpressionError(
          'expected ' + quote(kind) + ' but found ' + describe(tok), tok.pos);
      }
      this.advance();
    }
  }

  // positions: source position of each literal argument (null for other
  // arguments, and no array at all for trees from JSON).
  function checkCall(name, args, pos, positions) {
    const range = FUNCTIONS[name];
    const low = range[0];
    const high = range[1];
    if (args.length < low || args.length > high) {
      let wanted;
      if (low === high) {
        wanted = low + ' argument' + (low === 1 ? '' : 's');
      } else {
        wanted = low + ' or ' + high + ' arguments';
      }
      throw new ExpressionError(name + '() takes ' + wanted + ', got ' + args.length, pos);
    }
    const argPos = positions ? positions[1] : null;
    if (name === 'selected' && args[1][0] === 'num') {
      throw new ExpressionError(
        "the choice in selected() must be quoted, like '1'", argPos);
    }
    if (name === 'regex' && args[1][0] === 'str') {
      try {
        compileRegex(args[1][1]);
      } catch (error) {
        if (!(error instanceof RegexError)) {
          throw error;
        }
        let where = argPos;
        if (where !== null && error.index !== null) {
          where += 1 + error.index;
        }
        throw new ExpressionError('invalid regex: ' + error.reason, where);
      }
    }
  }

  /**
   * Parse an expression into its JSON tree.  Throws ExpressionError.
   */
  function parse(text) {
    if (typeof text !== 'string') {
      throw new TypeError('expression must be a string');
    }
    const cps = Array.from(text);
    if (cps.length > MAX_EXPRESSION_LENGTH) {
      throw new ExpressionError('expression is too long (' + cps.length +
                                ' characters, maximum ' + MAX_EXPRESSION_LENGTH + ')');
    }
    return new Parser(cps).parse();
  }

  /**
   * Validate a tree received from the server (an array, or its JSON text)
   * and return it as a fresh array.  Throws ExpressionError.
   */
  function fromJSON(data) {
    if (typeof data === 'string') {
      try {
        data = JSON.parse(data);
      } catch (error) {
        throw new ExpressionError('invalid expression tree JSON');
      }
    }
    return fromJSONNode(data, 0);
  }

  function fromJSONNode(data, depth) {
    if (depth >= MAX_DEPTH) {
      throw new ExpressionError('expression is nested too deeply');
    }
    if (!Array.isArray(data) || data.length === 0 || typeof data[0] !== 'string') {
      throw new ExpressionError('invalid expression tree node');
    }
    const tag = data[0];
    const rest = data.slice(1);
    const sub = function (items) {
      return items.map(function (item) { return fromJSONNode(item, depth + 1); });
    };
    if (tag === 'num' && rest.length === 1 && typeof rest[0] === 'number' &&
        isFinite(rest[0]) && rest[0] >= 0) {
      return ['num', rest[0]];
    }
    if (tag === 'str' && rest.length === 1 && typeof rest[0] === 'string' &&
        !(rest[0].indexOf("'") >= 0 && rest[0].indexOf('"') >= 0)) {
      return ['str', rest[0]];
    }
    if (tag === 'ref' && rest.length === 1 && typeof rest[0] === 'string' && rest[0] &&
        Array.from(rest[0]).every(function (ch, k) { return isFieldNameChar(ch, k === 0); })) {
      return ['ref', rest[0]];
    }
    if (tag === 'cur' && rest.length === 0) {
      return ['cur'];
    }
    if (tag === 'neg' && rest.length === 1) {
      return ['neg'].concat(sub(rest));
    }
    if ((tag === 'and' || tag === 'or') && rest.length >= 2) {
      return [tag].concat(sub(rest));
    }
    if (BINARY_OPS.indexOf(tag) >= 0 && rest.length === 2) {
      return [tag].concat(sub(rest));
    }
    if (tag === 'call' && rest.length >= 1 && typeof rest[0] === 'string' &&
        has(FUNCTIONS, rest[0])) {
      const args = sub(rest.slice(1));
      checkCall(rest[0], args, null, null);
      return ['call', rest[0]].concat(args);
    }
    throw new ExpressionError('invalid expression tree node');
  }

  /**
   * Field names referenced by ${...}, in source order, with repeats.
   */
  function references(tree) {
    const names = [];
    const stack = [tree];
    while (stack.length) {
      const node = stack.pop();
      const tag = node[0];
      if (tag === 'ref') {
        names.push(node[1]);
      } else if (tag === 'call') {
        for (let k = node.length - 1; k >= 2; k--) {
          stack.push(node[k]);
        }
      } else if (tag !== 'num' && tag !== 'str' && tag !== 'cur') {
        for (let k = node.length - 1; k >= 1; k--) {
          stack.push(node[k]);
        }
      }
    }
    return names;
  }

  // -------------------------------------------------------------------------
  // Conversions
  // -------------------------------------------------------------------------

  const NUMBER_RE = /^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$/;
  const DATE_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
  const SPLIT_RE = /[ \t\r\n]+/;

  function truthy(result) {
    if (typeof result === 'boolean') {
      return result;
    }
    if (typeof result === 'number') {
      return !isNaN(result) && Math.abs(result) > EQ_TOLERANCE;
    }
    if (typeof result === 'string') {
      return result !== '';
    }
    throw new TypeError('not an expression value: ' + result);
  }

  // Strip code points up to U+0020 from both ends (Java's String.trim()).
  function trim(text) {
    let start = 0;
    let end = text.length;
    while (start < end && text.charCodeAt(start) <= 0x20) {
      start += 1;
    }
    while (end > start && text.charCodeAt(end - 1) <= 0x20) {
      end -= 1;
    }
    return text.slice(start, end);
  }

  function toNumber(value) {
    if (typeof value === 'boolean') {
      return value ? 1 : 0;
    }
    if (typeof value === 'number') {
      return value;
    }
    let text = trim(value);
    const match = DATE_RE.exec(text);
    if (match) {
      const days = daysFromCivil(Number(match[1]), Number(match[2]), Number(match[3]));
      return days === null ? NaN : days;
    }
    text = text.replace(/,/g, '.');
    if (NUMBER_RE.test(text)) {
      return Number(text);
    }
    return NaN;
  }

  function toString(value) {
    if (typeof value === 'boolean') {
      return value ? 'true' : 'false';
    }
    if (typeof value === 'number') {
      return numberToString(value);
    }
    return value;
  }

  function floorDiv(a, b) {
    return Math.floor(a / b);
  }

  function daysFromCivil(year, month, day) {
    if (year < 1 || month < 1 || month > 12) {
      return null;
    }
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    const monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if (day < 1 || day > monthDays[month - 1]) {
      return null;
    }
    const y = month <= 2 ? year - 1 : year;
    const era = floorDiv(y, 400);
    const yearOfEra = y - era * 400;
    const dayOfYear = floorDiv(153 * (month + (month > 2 ? -3 : 9)) + 2, 5) + day - 1;
    const dayOfEra = yearOfEra * 365 + floorDiv(yearOfEra, 4) -
      floorDiv(yearOfEra, 100) + dayOfYear;
    return era * 146097 + dayOfEra - 719468;
  }

  // Shortest round-trip digits of a finite non-zero |value|:
  // {digits, point} with |value| = 0.<digits> * 10^point.
  function shortestDigits(value) {
    const parts = Math.abs(value).toExponential().split('e');
    const mantissa = parts[0];
    let digits = mantissa.replace('.', '');
    let point = 1 + parseInt(parts[1], 10);
    while (digits.length > 1 && digits.charAt(0) === '0') {
      digits = digits.slice(1);
      point -= 1;
    }
    digits = digits.replace(/0+$/, '');
    return {digits: digits, point: point};
  }

  function repeat(text, count) {
    let out = '';
    for (let k = 0; k < count; k++) {
      out += text;
    }
    return out;
  }

  function numberToString(value) {
    if (isNaN(value)) {
      return 'NaN';
    }
    if (!isFinite(value)) {
      return value > 0 ? 'Infinity' : '-Infinity';
    }
    if (value === 0) {
      return '0';
    }
    const sd = shortestDigits(value);
    const digits = sd.digits;
    const point = sd.point;
    const sign = value < 0 ? '-' : '';
    if (point <= 0) {
      return sign + '0.' + repeat('0', -point) + digits;
    }
    if (point >= digits.length) {
      return sign + digits + repeat('0', point - digits.length);
    }
    return sign + digits.slice(0, point) + '.' + digits.slice(point);
  }

  function fieldValue(name, value) {
    if (value === null || value === undefined) {
      return '';
    }
    if (typeof value === 'string') {
      return value;
    }
    if (typeof value === 'number') {
      return numberToString(value);
    }
    if (Array.isArray(value) && value.every(function (item) { return typeof item === 'string'; })) {
      return value.join(' ');
    }
    throw new TypeError('value of field ' + JSON.stringify(name) +
                        ' must be a string, an array of strings or null');
  }

  function pad(number, width) {
    let text = String(number);
    while (text.length < width) {
      text = '0' + text;
    }
    return text;
  }

  function todayString(option) {
    if (typeof option === 'string') {
      return option;
    }
    const date = option instanceof Date ? option : new Date();
    return pad(date.getFullYear(), 4) + '-' + pad(date.getMonth() + 1, 2) + '-' +
      pad(date.getDate(), 2);
  }

  // -------------------------------------------------------------------------
  // Evaluation
  // -------------------------------------------------------------------------

  /**
   * Evaluate a tree from parse() or fromJSON().
   *
   * values: {name: string | string[] | null}; every referenced field must be
   * present.  current: the value of '.'.  options.today: 'YYYY-MM-DD' or Date.
   * Returns a boolean, number or string; use truthy() for relevant/constraint.
   */
  function evaluate(tree, values, current, options) {
    if (!Array.isArray(tree)) {
      throw new TypeError('evaluate() expects a tree from parse(); call parse() first');
    }
    values = values || {};
    const fields = Object.create(null);
    const names = references(tree);
    for (let k = 0; k < names.length; k++) {
      const name = names[k];
      if (!(name in fields)) {
        if (!has(values, name)) {
          throw new ExpressionError('unknown field ${' + name + '}');
        }
        fields[name] = fieldValue(name, values[name]);
      }
    }
    const ctx = {
      fields: fields,
      current: fieldValue('.', current),
      today: todayString(options && options.today)
    };
    return evalNode(tree, ctx);
  }

  function evalNode(node, ctx) {
    const tag = node[0];
    switch (tag) {
      case 'num':
      case 'str':
        return node[1];
      case 'ref':
        return ctx.fields[node[1]];
      case 'cur':
        return ctx.current;
      case 'neg':
        return -toNumber(evalNode(node[1], ctx));
      case 'and':
      case 'or': {
        const stop = tag === 'or';
        for (let k = 1; k < node.length; k++) {
          if (truthy(evalNode(node[k], ctx)) === stop) {
            return stop;
          }
        }
        return !stop;
      }
      case 'call':
        return call(node[1], node.slice(2), ctx);
      default:
        if (BINARY_OPS.indexOf(tag) >= 0) {
          return binary(tag, evalNode(node[1], ctx), evalNode(node[2], ctx));
        }
        throw new ExpressionError('invalid expression tree node');
    }
  }

  function equal(a, b) {
    if (typeof a === 'boolean' || typeof b === 'boolean') {
      return truthy(a) === truthy(b);
    }
    if (typeof a === 'number' || typeof b === 'number') {
      const x = toNumber(a);
      const y = toNumber(b);
      return x === y || Math.abs(x - y) < EQ_TOLERANCE;
    }
    return a === b;
  }

  function binary(op, a, b) {
    if (op === '=') {
      return equal(a, b);
    }
    if (op === '!=') {
      return !equal(a, b);
    }
    const x = toNumber(a);
    const y = toNumber(b);
    switch (op) {
      case '<': return x < y;
      case '<=': return x <= y;
      case '>': return x > y;
      case '>=': return x >= y;
      case '+': return x + y;
      case '-': return x - y;
      case '*': return x * y;
      case 'div': return x / y;
      default: return x % y;
    }
  }

  function tokens(text) {
    return text.split(SPLIT_RE).filter(function (item) { return item !== ''; });
  }

  function call(name, args, ctx) {
    if (name === 'if') {
      const chosen = truthy(evalNode(args[0], ctx)) ? args[1] : args[2];
      return evalNode(chosen, ctx);
    }
    if (name === 'coalesce') {
      const first = evalNode(args[0], ctx);
      if (first === '' || (typeof first === 'number' && isNaN(first))) {
        return evalNode(args[1], ctx);
      }
      return first;
    }
    const values = args.map(function (arg) { return evalNode(arg, ctx); });
    switch (name) {
      case 'true':
        return true;
      case 'false':
        return false;
      case 'not':
        return !truthy(values[0]);
      case 'selected':
        return tokens(toString(values[0])).indexOf(trim(toString(values[1]))) >= 0;
      case 'count-selected':
        return tokens(toString(values[0])).length;
      case 'string-length':
        return Array.from(toString(values.length ? values[0] : ctx.current)).length;
      case 'regex':
        return regex(toString(values[0]), toString(values[1]));
      case 'today':
        return ctx.today;
      case 'number':
        return toNumber(values.length ? values[0] : ctx.current);
      case 'int':
        return truncate(toNumber(values[0]));
      case 'round': {
        const places = values.length > 1 ? truncate(toNumber(values[1])) : 0;
        return round(toNumber(values[0]), isNaN(places) ? 0 : places);
      }
      default:
        throw new ExpressionError("unknown function '" + name + "()'");
    }
  }

  function truncate(value) {
    if (isNaN(value) || !isFinite(value)) {
      return value;
    }
    return Math.trunc(value) + 0; // + 0 turns -0 into 0
  }

  function incrementDigits(digits) {
    let out = '';
    let carry = 1;
    for (let k = digits.length - 1; k >= 0; k--) {
      const digit = digits.charCodeAt(k) - 48 + carry;
      carry = digit > 9 ? 1 : 0;
      out = String(digit % 10) + out;
    }
    return carry ? '1' + out : out;
  }

  // Round half towards +Infinity on the shortest decimal representation.
  function round(value, places) {
    if (isNaN(value) || !isFinite(value)) {
      return value;
    }
    if (places > 30 || places < -30) {
      return NaN;
    }
    if (value === 0) {
      return 0;
    }
    const sd = shortestDigits(value);
    const digits = sd.digits;
    const keep = sd.point + places; // number of leading digits kept
    if (keep >= digits.length) {
      return value;
    }
    const kept = keep > 0 ? digits.slice(0, keep) : '0';
    const firstDropped = keep >= 0 ? Number(digits.charAt(keep)) : 0;
    let up;
    if (value > 0) {
      up = firstDropped >= 5;
    } else {
      up = firstDropped > 5 || (firstDropped === 5 && digits.length > keep + 1);
    }
    // Kept digits may exceed 2^53: increment them as a decimal string.
    const magnitude = up ? incrementDigits(kept) : kept;
    const result = Number(magnitude + 'e' + (-places));
    return value < 0 && result !== 0 ? -result : result;
  }

  // -------------------------------------------------------------------------
  // regex(): a small linear-time engine (Thompson NFA run as a Pike VM)
  // -------------------------------------------------------------------------

  class RegexError {
    constructor(reason, index) {
      this.reason = reason;
      this.index = index;
    }
  }

  const CHAR = 0, SET = 1, ANY = 2, SPLIT = 3, JMP = 4, BOL = 5, EOL = 6, MATCH = 7;
  const MAX_CODE_POINT = 0x10FFFF;
  const DIGIT_RANGES = [[0x30, 0x39]];
  const WORD_RANGES = [[0x30, 0x39], [0x41, 0x5A], [0x5F, 0x5F], [0x61, 0x7A]];
  const SPACE_RANGES = [[0x09, 0x0D], [0x20, 0x20]];
  const LINE_TERMINATORS = [0x0A, 0x0D, 0x85, 0x2028, 0x2029];
  const SIMPLE_ESCAPES = {t: 0x09, n: 0x0A, r: 0x0D, f: 0x0C, v: 0x0B};
  const CLASS_ESCAPES = {d: DIGIT_RANGES, w: WORD_RANGES, s: SPACE_RANGES};
  const NEGATED_CLASS_ESCAPES = {D: DIGIT_RANGES, W: WORD_RANGES, S: SPACE_RANGES};
  const HEX_RE = /^[0-9a-fA-F]{4}$/;
  const ASCII_ALNUM_RE = /^[A-Za-z0-9]$/;

  function compareRanges(a, b) {
    return a[0] - b[0] || a[1] - b[1];
  }

  function complement(ranges) {
    const result = [];
    let low = 0;
    const sorted = ranges.slice().sort(compareRanges);
    for (let k = 0; k < sorted.length; k++) {
      const start = sorted[k][0];
      const end = sorted[k][1];
      if (start > low) {
        result.push([low, start - 1]);
      }
      low = Math.max(low, end + 1);
    }
    if (low <= MAX_CODE_POINT) {
      result.push([low, MAX_CODE_POINT]);
    }
    return result;
  }

  // Parse a pattern into nodes: ['char', cp] ['set', negated, ranges] ['any']
  // ['bol'] ['eol'] ['group', node] ['cat', items] ['alt', items]
  // ['rep', node, min, max or null].
  class RegexParser {
    constructor(pattern) {
      this.p = Array.from(pattern);
      this.i = 0;
    }

    error(reason, index) {
      return new RegexError(reason, index === undefined ? this.i : index);
    }

    parse() {
      const node = this.alternation();
      if (this.i < this.p.length) { // only an unmatched ")" stops alternation()
        throw this.error("unmatched ')'");
      }
      return node;
    }

    alternation() {
      const items = [this.sequence()];
      while (this.i < this.p.length && this.p[this.i] === '|') {
        this.i += 1;
        items.push(this.sequence());
      }
      return items.length === 1 ? items[0] : ['alt', items];
    }

    sequence() {
      const items = [];
      while (this.i < this.p.length && this.p[this.i] !== '|' && this.p[this.i] !== ')') {
        const atom = this.atom();
        items.push(this.quantified(atom));
      }
      return items.length === 1 ? items[0] : ['cat', items]; // () -> empty
    }

    atom() {
      const p = this.p;
      const start = this.i;
      const ch = p[start];
      this.i += 1;
      if (ch === '*' || ch === '+' || ch === '?') {
        throw this.error('nothing to repeat', start);
      }
      if (ch === '{') {
        throw this.error(this.repeatAt(start) ? 'nothing to repeat' :
                         "'{' must start a repetition like {2} or {1,3} (write \\{)",
                         start);
      }
      if (ch === '(') {
        if (p[this.i] === '?' && p[this.i + 1] === ':') {
          this.i += 2;
        } else if (p[this.i] === '?') {
          throw this.error("unsupported group '(?'", start);
        }
        const inner = this.alternation();
        if (this.i >= p.length) {
          throw this.error("missing ')'", start);
        }
        this.i += 1;
        return ['group', inner];
      }
      if (ch === '[') {
        return this.charClass(start);
      }
      if (ch === '.') {
        return ['any'];
      }
      if (ch === '^') {
        return ['bol'];
      }
      if (ch === '$') {
        return ['eol'];
      }
      if (ch === '\\') {
        return this.escape(start);
      }
      return ['char', ch.codePointAt(0)];
    }

    // Parse {n}, {n,} or {n,m} at index: [min, max or null, end] or null.
    repeatAt(index) {
      const p = this.p;
      if (p[index] !== '{') {
        return null;
      }
      let j = index + 1;
      let lowText = '';
      while (isIn(p[j], DIGITS)) {
        lowText += p[j];
        j += 1;
      }
      if (lowText === '') {
        return null;
      }
      const low = parseInt(lowText, 10);
      let high = low;
      if (p[j] === ',') {
        j += 1;
        let highText = '';
        while (isIn(p[j], DIGITS)) {
          highText += p[j];
          j += 1;
        }
        high = highText === '' ? null : parseInt(highText, 10);
      }
      if (p[j] !== '}') {
        return null;
      }
      return [low, high, j + 1];
    }

    quantified(atom) {
      const p = this.p;
      if (this.i >= p.length) {
        return atom;
      }
      const start = this.i;
      const ch = p[start];
      let low;
      let high;
      if (ch === '*' || ch === '+' || ch === '?') {
        low = ch === '+' ? 1 : 0;
        high = ch === '?' ? 1 : null;
        this.i += 1;
      } else if (ch === '{' && this.repeatAt(start)) {
        const found = this.repeatAt(start);
        low = found[0];
        high = found[1];
        this.i = found[2];
        if (Math.max(low, high || 0) > MAX_REGEX_REPEAT) {
          throw this.error('repetition count above ' + MAX_REGEX_REPEAT, start);
        }
        if (high !== null && high < low) {
          throw this.error('repetition range out of order', start);
        }
      } else {
        return atom;
      }
      if (atom[0] === 'bol' || atom[0] === 'eol') {
        throw this.error('nothing to repeat', start);
      }
      if (p[this.i] === '?') {
        this.i += 1; // lazy: same yes/no answer
      }
      if (this.i < p.length && (p[this.i] === '*' || p[this.i] === '+' || p[this.i] === '?' ||
                                (p[this.i] === '{' && this.repeatAt(this.i)))) {
        throw this.error('nothing to repeat', this.i);
      }
      return ['rep', atom, low, high];
    }

    escape(start) {
      const p = this.p;
      if (this.i >= p.length) {
        throw this.error("pattern ends with '\\'", start);
      }
      const ch = p[this.i];
      this.i += 1;
      if (has(CLASS_ESCAPES, ch)) {
        return ['set', false, CLASS_ESCAPES[ch]];
      }
      if (has(NEGATED_CLASS_ESCAPES, ch)) {
        return ['set', true, NEGATED_CLASS_ESCAPES[ch]];
      }
      if (has(SIMPLE_ESCAPES, ch)) {
        return ['char', SIMPLE_ESCAPES[ch]];
      }
      if (ch === 'u') {
        const digits = p.slice(this.i, this.i + 4).join('');
        if (!HEX_RE.test(digits)) {
          throw this.error("'\\u' needs 4 hex digits", start);
        }
        this.i += 4;
        return ['char', parseInt(digits, 16)];
      }
      if (ASCII_ALNUM_RE.test(ch)) {
        throw this.error("unsupported escape '\\" + ch + "'", start);
      }
      return ['char', ch.codePointAt(0)];
    }

    charClass(start) {
      const p = this.p;
      const negated = p[this.i] === '^';
      if (negated) {
        this.i += 1;
      }
      let ranges = [];
      let first = true;
      for (;;) {
        if (this.i >= p.length) {
          throw this.error("missing ']'", start);
        }
        const ch = p[this.i];
        if (ch === ']') {
          if (first) {
            throw this.error('empty character class (write \\])', this.i);
          }
          this.i += 1;
          break;
        }
        first = false;
        const itemStart = this.i;
        const low = this.classItem();
        if (this.i + 1 < p.length && p[this.i] === '-' && p[this.i + 1] !== ']') {
          this.i += 1;
          const high = this.classItem();
          if (low[0] !== 'char' || high[0] !== 'char') {
            throw this.error('invalid range in character class', itemStart);
          }
          if (high[1] < low[1]) {
            throw this.error('range out of order in character class', itemStart);
          }
          ranges.push([low[1], high[1]]);
        } else if (low[0] === 'char') {
          ranges.push([low[1], low[1]]);
        } else {
          ranges = ranges.concat(low[1] ? complement(low[2]) : low[2]);
        }
      }
      return ['set', negated, ranges.sort(compareRanges)];
    }

    classItem() {
      const p = this.p;
      const start = this.i;
      const ch = p[start];
      this.i += 1;
      if (ch === '\\') {
        return this.escape(start);
      }
      if (ch === '[') {
        throw this.error("'[' inside a character class (write \\[)", start);
      }
      if (ch === '&' && p[start + 1] === '&') {
        throw this.error("'&&' inside a character class (write \\&)", start);
      }
      return ['char', ch.codePointAt(0)];
    }
  }

  // Compile parsed nodes into a Pike VM program (parallel arrays).
  class RegexCompiler {
    constructor() {
      this.kind = [];
      this.arg = [];
      this.x = [];
      this.y = [];
    }

    emit(kind, arg, x) {
      if (this.kind.length >= MAX_REGEX_PROGRAM) {
        throw new RegexError('pattern is too complex', null);
      }
      this.kind.push(kind);
      this.arg.push(arg === undefined ? null : arg);
      this.x.push(x === undefined ? -1 : x);
      this.y.push(-1);
      return this.kind.length - 1;
    }

    compile(node) {
      const tag = node[0];
      if (tag === 'char') {
        this.emit(CHAR, node[1]);
      } else if (tag === 'set') {
        this.emit(SET, [node[1], node[2]]);
      } else if (tag === 'any') {
        this.emit(ANY);
      } else if (tag === 'bol') {
        this.emit(BOL);
      } else if (tag === 'eol') {
        this.emit(EOL);
      } else if (tag === 'group') {
        this.compile(node[1]);
      } else if (tag === 'cat') {
        for (let k = 0; k < node[1].length; k++) {
          this.compile(node[1][k]);
        }
      } else if (tag === 'alt') {
        const jumps = [];
        const items = node[1];
        for (let k = 0; k < items.length - 1; k++) {
          const split = this.emit(SPLIT);
          this.x[split] = split + 1;
          this.compile(items[k]);
          jumps.push(this.emit(JMP));
          this.y[split] = this.kind.length;
        }
        this.compile(items[items.length - 1]);
        for (let k = 0; k < jumps.length; k++) {
          this.x[jumps[k]] = this.kind.length;
        }
      } else {
        this.repeat(node[1], node[2], node[3]);
      }
    }

    repeat(atom, low, high) {
      for (let k = 0; k < low; k++) {
        this.compile(atom);
      }
      if (high === null) {
        const split = this.emit(SPLIT);
        this.x[split] = split + 1;
        this.compile(atom);
        this.emit(JMP, null, split);
        this.y[split] = this.kind.length;
        return;
      }
      const splits = [];
      for (let k = 0; k < high - low; k++) {
        const split = this.emit(SPLIT);
        this.x[split] = split + 1;
        splits.push(split);
        this.compile(atom);
      }
      for (let k = 0; k < splits.length; k++) {
        this.y[splits[k]] = this.kind.length;
      }
    }
  }

  const regexCache = new Map();

  function compileRegex(pattern) {
    if (regexCache.has(pattern)) {
      return regexCache.get(pattern);
    }
    const length = Array.from(pattern).length;
    if (length > MAX_REGEX_PATTERN_LENGTH) {
      throw new RegexError('pattern is too long (' + length + ' characters, maximum ' +
                           MAX_REGEX_PATTERN_LENGTH + ')', null);
    }
    const program = new RegexCompiler();
    program.compile(new RegexParser(pattern).parse());
    program.emit(MATCH);
    if (regexCache.size >= 256) {
      regexCache.clear();
    }
    regexCache.set(pattern, program);
    return program;
  }

  function regex(text, pattern) {
    let program;
    try {
      program = compileRegex(pattern);
    } catch (error) {
      if (error instanceof RegexError) {
        throw new ExpressionError('invalid regex: ' + error.reason);
      }
      throw error;
    }
    const codes = Array.from(text).map(function (ch) { return ch.codePointAt(0); });
    if (codes.length > MAX_REGEX_INPUT_LENGTH) {
      throw new ExpressionError('regex input is too long (' + codes.length +
                                ' characters, maximum ' + MAX_REGEX_INPUT_LENGTH + ')');
    }
    return regexSearch(program, codes);
  }

  function inRanges(code, ranges) {
    for (let k = 0; k < ranges.length; k++) {
      if (code < ranges[k][0]) {
        return false;
      }
      if (code <= ranges[k][1]) {
        return true;
      }
    }
    return false;
  }

  // Does the program match anywhere in codes?  O(codes.length * program size).
  function regexSearch(program, codes) {
    const kind = program.kind;
    const arg = program.arg;
    const xs = program.x;
    const ys = program.y;
    const n = codes.length;
    const seenAt = new Int32Array(kind.length).fill(-1);
    const stack = [];

    // Add consuming states reachable from pc at position i to out; true on MATCH.
    // seenAt[pc] === i marks states already added for position i.
    function closure(start, i, out) {
      stack.length = 0;
      stack.push(start);
      while (stack.length) {
        const pc = stack.pop();
        if (seenAt[pc] === i) {
          continue;
        }
        seenAt[pc] = i;
        const k = kind[pc];
        if (k === JMP) {
          stack.push(xs[pc]);
        } else if (k === SPLIT) {
          stack.push(ys[pc]);
          stack.push(xs[pc]);
        } else if (k === BOL) {
          if (i === 0) {
            stack.push(pc + 1);
          }
        } else if (k === EOL) {
          if (i === n) {
            stack.push(pc + 1);
          }
        } else if (k === MATCH) {
          return true;
        } else {
          out.push(pc);
        }
      }
      return false;
    }

    let current = [];
    for (let i = 0; i <= n; i++) {
      if (closure(0, i, current)) {
        return true;
      }
      if (i === n) {
        break;
      }
      const code = codes[i];
      const following = [];
      for (let k = 0; k < current.length; k++) {
        const pc = current[k];
        const type = kind[pc];
        let ok;
        if (type === CHAR) {
          ok = code === arg[pc];
        } else if (type === ANY) {
          ok = LINE_TERMINATORS.indexOf(code) < 0;
        } else {
          ok = inRanges(code, arg[pc][1]) !== arg[pc][0];
        }
        if (ok && closure(pc + 1, i + 1, following)) {
          return true;
        }
      }
      current = following;
    }
    return false;
  }

  return {
    parse: parse,
    evaluate: evaluate,
    truthy: truthy,
    fromJSON: fromJSON,
    references: references,
    ExpressionError: ExpressionError,
    limits: {
      MAX_EXPRESSION_LENGTH: MAX_EXPRESSION_LENGTH,
      MAX_DEPTH: MAX_DEPTH,
      MAX_REGEX_PATTERN_LENGTH: MAX_REGEX_PATTERN_LENGTH,
      MAX_REGEX_INPUT_LENGTH: MAX_REGEX_INPUT_LENGTH
    }
  };
}));
