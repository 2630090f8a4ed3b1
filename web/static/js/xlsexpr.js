/*
 * xlsexpr.js -- safe evaluation of the XLSForm / ODK XPath expressions of
 * Konbit survey forms (relevant, constraint, calculation, choice_filter),
 * offline in the browser.
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
 *       'YYYY-MM-DD' or a Date (defaults to the phone's local date); the
 *       rest of the context, as the keyword arguments of Python's
 *       evaluate(): now, repeats, position, choice, choices, seed
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

  // name -> [minimum, maximum or null for any number] of arguments
  const FUNCTIONS = {
    // logic and conversion
    'true': [0, 0], 'false': [0, 0], 'not': [1, 1], 'boolean': [1, 1],
    'boolean-from-string': [1, 1], 'string': [0, 1], 'number': [0, 1],
    'if': [3, 3], 'coalesce': [2, 2], 'once': [1, 1], 'checklist': [2, null],
    // select answers
    'selected': [2, 2], 'count-selected': [1, 1], 'selected-at': [2, 2],
    'jr:choice-name': [2, 2],
    // strings
    'string-length': [0, 1], 'normalize-space': [0, 1], 'concat': [1, null],
    'join': [1, null], 'substr': [2, 3], 'substring-before': [2, 2],
    'substring-after': [2, 2], 'contains': [2, 2], 'starts-with': [2, 2],
    'ends-with': [2, 2], 'translate': [3, 3], 'regex': [2, 2], 'uuid': [0, 1],
    // numbers
    'int': [1, 1], 'round': [1, 2], 'abs': [1, 1], 'pow': [2, 2], 'sqrt': [1, 1],
    'exp': [1, 1], 'exp10': [1, 1], 'log': [1, 1], 'log10': [1, 1], 'pi': [0, 0],
    'sin': [1, 1], 'cos': [1, 1], 'tan': [1, 1], 'asin': [1, 1], 'acos': [1, 1],
    'atan': [1, 1], 'atan2': [2, 2], 'random': [0, 0],
    // node-sets and repeats
    'count': [1, 1], 'count-non-empty': [1, 1], 'sum': [1, 1], 'min': [1, null],
    'max': [1, null], 'position': [0, 1], 'indexed-repeat': [3, 11],
    // dates and times
    'today': [0, 0], 'now': [0, 0], 'date': [1, 1], 'date-time': [1, 1],
    'decimal-date-time': [1, 1], 'decimal-time': [1, 1], 'format-date': [2, 2],
    'format-date-time': [2, 2]
  };

  // Functions whose arguments may be node-sets (a repeat's answers), left unpacked.
  const NODESET_FUNCTIONS = ['count', 'count-non-empty', 'sum', 'min', 'max', 'concat',
                             'join', 'position'];

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
          i += 2;
          tokens.push(token('..', '..', start, '..'));
        } else {
          i += 1;
          tokens.push(token('cur', null, start, '.'));
        }
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
        if (cps[i + 1] === '/') {
          throw new ExpressionError("'//' paths are not supported", start);
        }
        i += 1;
        tokens.push(token('/', '/', start, '/'));
      } else if (ch === '[') {
        throw new ExpressionError("predicates '[...]' are not supported", start);
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
    constructor(cps, columns) {
      this.tokens = tokenize(cps);
      this.index = 0;
      this.nesting = 0;
      this.columns = columns; // may a bare name read a choices column?
    }

    // Refuse a choices column outside a choice_filter (when the kind is known).
    relative(path, pos) {
      const column = pathColumn(path);
      if (column !== null && !this.columns) {
        throw new ExpressionError(
          "unexpected name '" + column + "' (write ${" + column + '} to use a field)', pos);
      }
      return path;
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
        if (tok.kind === '/') {
          throw new ExpressionError("unexpected '/' (use 'div' to divide)", tok.pos);
        }
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
        if (this.peek().kind === '/') {
          return [this.relative(['path', 'rel'].concat(this.steps([])), tok.pos), 1];
        }
        return [['cur'], 1];
      }
      if (kind === '..') {
        return [['path', 'rel'].concat(this.steps(['..'])), 1];
      }
      if (kind === '/') {
        const following = this.peek();
        if (following.kind !== 'name' || this.tokens[this.index + 1].kind === '(') {
          throw new ExpressionError(
            "unexpected '/' (write a path like /data/name; use 'div' to divide)", tok.pos);
        }
        this.advance();
        return [['path', 'abs'].concat(this.steps([following.text])), 1];
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
        if (tok.text === 'current') {
          this.advance();
          this.expect(')');
          return [['path', 'current'].concat(this.steps([])), 1];
        }
        return this.call(tok);
      }
      if (kind === 'name' && infixOperator(tok) === null) {
        return [this.relative(['path', 'rel'].concat(this.steps([tok.text])), tok.pos), 1];
      }
      throw new ExpressionError('unexpected ' + describe(tok), tok.pos);
    }

    // Read '/step' after the start of a path; '.' steps are dropped.
    steps(steps) {
      while (this.peek().kind === '/') {
        this.advance();
        const tok = this.advance();
        if (tok.kind === 'name' && this.peek().kind !== '(') {
          steps.push(tok.text);
        } else if (tok.kind === '..') {
          steps.push('..');
        } else if (tok.kind !== 'cur') {
          throw new ExpressionError('unexpected ' + describe(tok) + ' in a path', tok.pos);
        }
      }
      return steps;
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
    if (name === 'indexed-repeat') {
      if ([3, 5, 7, 9, 11].indexOf(args.length) < 0) {
        throw new ExpressionError(
          'indexed-repeat() takes 3, 5, 7, 9 or 11 arguments, got ' + args.length, pos);
      }
      for (let index = 0; index < args.length; index = index === 0 ? 1 : index + 2) {
        if (namedField(args[index]) === null) { // the field, then each repeat
          throw new ExpressionError(
            'argument ' + (index + 1) + ' of indexed-repeat() must be a field like ${name}',
            pos);
        }
      }
    } else if (args.length < low || (high !== null && args.length > high)) {
      let wanted;
      if (high === null) {
        wanted = 'at least ' + low + ' argument' + (low === 1 ? '' : 's');
      } else if (low === high) {
        wanted = low + ' argument' + (low === 1 ? '' : 's');
      } else {
        wanted = low + ' or ' + high + ' arguments';
      }
      throw new ExpressionError(name + '() takes ' + wanted + ', got ' + args.length, pos);
    }
    if (name === 'position' && args.length && args[0][0] !== 'ref' && args[0][0] !== 'path') {
      throw new ExpressionError('the argument of position() must be a path like ..', pos);
    }
    const argPos = positions ? positions[1] : null;
    if (name === 'selected' && args[1][0] === 'num') {
      throw new ExpressionError(
        "the choice in selected() must be quoted, like '1'", argPos);
    }
    if ((name === 'format-date' || name === 'format-date-time') && args[1][0] === 'str') {
      const bad = badDateFormat(args[1][1]);
      if (bad !== null) {
        throw new ExpressionError("unknown date format '%" + bad[1] + "'",
                                  argPos === null ? null : argPos + 1 + bad[0]);
      }
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
  const EXPRESSION_KINDS = ['relevant', 'constraint', 'calculation', 'required', 'default',
                            'repeat_count', 'choice_filter'];

  /**
   * kind (optional): the XLSForm column the expression comes from; bare names
   * (choices columns) are then accepted only in a choice_filter.
   */
  function parse(text, kind) {
    if (typeof text !== 'string') {
      throw new TypeError('expression must be a string');
    }
    if (kind !== undefined && kind !== null && EXPRESSION_KINDS.indexOf(kind) < 0) {
      throw new TypeError('unknown expression kind ' + JSON.stringify(kind));
    }
    const cps = Array.from(text);
    if (cps.length > MAX_EXPRESSION_LENGTH) {
      throw new ExpressionError('expression is too long (' + cps.length +
                                ' characters, maximum ' + MAX_EXPRESSION_LENGTH + ')');
    }
    return new Parser(cps, kind === undefined || kind === null || kind === 'choice_filter').parse();
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
    if (tag === 'path' && rest.length >= 1 && ['rel', 'abs', 'current'].indexOf(rest[0]) >= 0 &&
        rest.slice(1).every(function (step) {
          return typeof step === 'string' && (step === '..' || STEP_RE.test(step));
        })) {
      const steps = rest.slice(1);
      let firstOk = true;
      if (rest[0] === 'rel') {
        firstOk = steps.length > 0 && ['and', 'or', 'div', 'mod'].indexOf(steps[0]) < 0;
      } else if (rest[0] === 'abs') {
        firstOk = steps.length > 0 && steps[0] !== '..';
      }
      if (firstOk) {
        return ['path'].concat(rest);
      }
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

  const STEP_RE = /^[A-Za-z_][A-Za-z0-9_.-]*(?::[A-Za-z_][A-Za-z0-9_.-]*)?$/;

  // The form field a path names, or null (a parent, or a choices column).
  function pathField(node) {
    const steps = node.slice(2);
    if (!steps.length || steps[steps.length - 1] === '..') {
      return null;
    }
    if (node[1] === 'rel' && steps.indexOf('..') < 0) {
      return null;
    }
    return steps[steps.length - 1];
  }

  // The choices column a bare relative name reads in a choice_filter, or null.
  function pathColumn(node) {
    const steps = node.slice(2);
    if (node[1] === 'rel' && steps.length && steps.indexOf('..') < 0) {
      return steps[steps.length - 1];
    }
    return null;
  }

  function pathText(node) {
    const steps = node.slice(2);
    if (node[1] === 'abs') {
      return '/' + steps.join('/');
    }
    if (node[1] === 'current') {
      return 'current()' + steps.map(function (step) { return '/' + step; }).join('');
    }
    return steps.join('/');
  }

  function namedField(node) {
    if (node[0] === 'ref') {
      return node[1];
    }
    if (node[0] === 'path') {
      return pathField(node);
    }
    return null;
  }

  /**
   * Field names referenced by ${...} or a path (../name), in source order, with repeats.
   */
  function references(tree) {
    const names = [];
    const stack = [tree];
    while (stack.length) {
      const node = stack.pop();
      const tag = node[0];
      if (tag === 'ref') {
        names.push(node[1]);
      } else if (tag === 'path') {
        const name = pathField(node);
        if (name !== null) {
          names.push(name);
        }
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
    if (text.length >= 10 && text.charAt(4) === '-' && text.charAt(7) === '-') {
      const moment = parseMoment(text);
      return moment === null ? NaN : moment[0];
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

  // The answers of a field inside a repeat, read from outside that repeat.
  function NodeSet(name, values) {
    this.name = name;
    this.values = values;
  }

  // A node-set used as a single value: '' when empty, its answer when it has one.
  function unpack(value) {
    if (!(value instanceof NodeSet)) {
      return value;
    }
    if (value.values.length === 0) {
      return '';
    }
    if (value.values.length === 1) {
      return value.values[0];
    }
    throw new ExpressionError('${' + value.name + '} is in a repeat and has ' +
                              value.values.length + ' answers here: ' +
                              'use indexed-repeat(), count(), sum() or join() to choose');
  }

  function items(value) {
    return value instanceof NodeSet ? value.values : [value];
  }

  // random(): Math.random, or with a seed mulberry32 (identical in expressions.py).
  function makeRandom(seed) {
    if (seed === null || seed === undefined) {
      return Math.random;
    }
    let state = Math.trunc(Number(seed)) >>> 0;
    return function () {
      const a = (state + 0x6D2B79F5) >>> 0;
      state = a;
      let t = Math.imul((a ^ (a >>> 15)) >>> 0, (1 | a) >>> 0) >>> 0;
      t = (((t + (Math.imul((t ^ (t >>> 7)) >>> 0, (61 | t) >>> 0) >>> 0)) >>> 0) ^ t) >>> 0;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // FNV-1a (32 bits) over the UTF-8 of the parts joined by U+001F: seed_for() in Python.
  function seedFor() {
    const text = Array.prototype.slice.call(arguments).join('\u001f');
    const bytes = unescape(encodeURIComponent(text));
    let value = 0x811C9DC5;
    for (let k = 0; k < bytes.length; k++) {
      value = Math.imul((value ^ bytes.charCodeAt(k)) >>> 0, 0x01000193) >>> 0;
    }
    return value;
  }

  // Is this answer a nested repeat (a non-empty array of instance objects)?
  function isInstances(value) {
    return Array.isArray(value) && value.length > 0 && value.every(function (item) {
      return item !== null && typeof item === 'object' && !Array.isArray(item);
    });
  }

  function children(instance, repeat) {
    const value = has(instance, repeat) ? instance[repeat] : null;
    return isInstances(value) ? value : [];
  }

  // [repeats from the outermost to the one holding name (or that is name), whether
  // name is that repeat], or null when no instance has it.
  function chainOf(name, repeats, outer) {
    outer = outer || [];
    const names = Object.keys(repeats);
    for (let r = 0; r < names.length; r++) {
      const repeat = names[r];
      const chain = outer.concat([repeat]);
      if (repeat === name) {
        return [chain, true];
      }
      const nested = {};
      const instances = repeats[repeat];
      for (let k = 0; k < instances.length; k++) {
        const keys = Object.keys(instances[k]);
        for (let j = 0; j < keys.length; j++) {
          const value = instances[k][keys[j]];
          if (isInstances(value)) {
            if (!has(nested, keys[j])) {
              nested[keys[j]] = [];
            }
            nested[keys[j]] = nested[keys[j]].concat(value);
          } else if (keys[j] === name) {
            return [chain, false];
          }
        }
      }
      const found = chainOf(name, nested, chain);
      if (found !== null) {
        return found;
      }
    }
    return null;
  }

  function instanceText(instance) {
    return Object.keys(instance).map(function (key) {
      const value = instance[key];
      return isInstances(value) ? value.map(instanceText).join('') : fieldValue(key, value);
    }).join('');
  }

  // A field of a repeat (or a repeat) in the repeat context: one answer when every
  // repeat holding it is positioned, else the node-set of its answers.
  function repeatValue(name, chain, isRepeat, repeats, where) {
    let parents = [];
    let single = true;
    for (let depth = 0; depth < chain.length; depth++) {
      const repeat = chain[depth];
      const groups = depth === 0 ? [repeats[repeat]] : parents.map(function (p) {
        return children(p, repeat);
      });
      if (isRepeat && depth === chain.length - 1) {
        const all = [];
        groups.forEach(function (group) { group.forEach(function (i) { all.push(instanceText(i)); }); });
        return new NodeSet(name, all);
      }
      if (has(where, repeat)) {
        const index = where[repeat];
        parents = groups.filter(function (group) {
          return index >= 1 && index <= group.length;
        }).map(function (group) { return group[index - 1]; });
      } else {
        const next = [];
        groups.forEach(function (group) { group.forEach(function (i) { next.push(i); }); });
        parents = next;
        single = false;
      }
    }
    const answers = parents.map(function (p) {
      return fieldValue(name, has(p, name) ? p[name] : null);
    });
    if (single) {
      return answers.length ? answers[0] : '';
    }
    return new NodeSet(name, answers);
  }

  function resolveFields(names, values, repeats, positions) {
    const fields = Object.create(null);
    const where = {};
    positions.forEach(function (pair) { where[pair[0]] = pair[1]; });
    for (let k = 0; k < names.length; k++) {
      const name = names[k];
      if (name in fields) {
        continue;
      }
      if (has(values, name)) {
        fields[name] = fieldValue(name, values[name]);
        continue;
      }
      const found = chainOf(name, repeats);
      if (found === null) {
        throw new ExpressionError('unknown field ${' + name + '}');
      }
      fields[name] = repeatValue(name, found[0], found[1], repeats, where);
    }
    return fields;
  }

  function nowString(option) {
    if (typeof option === 'string') {
      return option;
    }
    const date = option instanceof Date ? option : new Date();
    const offset = -date.getTimezoneOffset();
    const sign = offset < 0 ? '-' : '+';
    const minutes = Math.abs(offset);
    return pad(date.getFullYear(), 4) + '-' + pad(date.getMonth() + 1, 2) + '-' +
      pad(date.getDate(), 2) + 'T' + pad(date.getHours(), 2) + ':' +
      pad(date.getMinutes(), 2) + ':' + pad(date.getSeconds(), 2) + '.' +
      pad(date.getMilliseconds(), 3) + sign + pad(Math.floor(minutes / 60), 2) + ':' +
      pad(minutes % 60, 2);
  }

  /**
   * Evaluate a tree from parse() or fromJSON().
   *
   * values: {name: string | string[] | null}; every referenced field must be
   * present (or in options.repeats).  current: the value of '.' and current().
   * options: today ('YYYY-MM-DD' or Date), now (ODK date-time text or Date),
   * repeats ({repeat: [{field: answer}, ...]}), position ({repeat: 1-based
   * instance}, outermost first), choice (the choices row of a choice_filter),
   * choices ({field: {choice: label}} for jr:choice-name), seed (random()).
   * Returns a boolean, number or string; use truthy() for relevant/constraint.
   */
  function evaluate(tree, values, current, options) {
    if (!Array.isArray(tree)) {
      throw new TypeError('evaluate() expects a tree from parse(); call parse() first');
    }
    values = values || {};
    options = options || {};
    const repeats = options.repeats || {};
    const positions = [];
    if (options.position) {
      Object.keys(options.position).forEach(function (name) {
        const index = options.position[name];
        if (typeof index !== 'number' || Math.floor(index) !== index) {
          throw new TypeError('position of repeat ' + JSON.stringify(name) + ' must be an integer');
        }
        positions.push([name, index]);
      });
    }
    const ctx = {
      fields: resolveFields(references(tree), values, repeats, positions),
      current: fieldValue('.', current),
      today: todayString(options.today),
      now: nowString(options.now),
      choice: options.choice || null,
      choices: options.choices || {},
      positions: positions,
      repeats: repeats,
      random: makeRandom(options.seed)
    };
    return unpack(evalNode(tree, ctx));
  }

  function evalPath(node, ctx) {
    const name = pathField(node);
    if (name !== null) {
      return ctx.fields[name];
    }
    const column = pathColumn(node);
    if (column !== null) {
      if (ctx.choice === null) {
        throw new ExpressionError(
          "'" + pathText(node) + "' names a column of the choices sheet, usable only in a " +
          'choice_filter (write ${' + column + '} to use a field)');
      }
      return fieldValue(column, has(ctx.choice, column) ? ctx.choice[column] : null);
    }
    if (node[1] === 'current' && node.length === 2) {
      return ctx.current;
    }
    return '';
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
      case 'path':
        return evalPath(node, ctx);
      case 'neg':
        return -toNumber(unpack(evalNode(node[1], ctx)));
      case 'and':
      case 'or': {
        const stop = tag === 'or';
        for (let k = 1; k < node.length; k++) {
          if (truthy(unpack(evalNode(node[k], ctx))) === stop) {
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
    a = unpack(a);
    b = unpack(b);
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

  // Java's (int) of a double: NaN is 0, out-of-range values are clamped.
  function javaInt(value) {
    if (isNaN(value)) {
      return 0;
    }
    if (value >= 2147483647) {
      return 2147483647;
    }
    if (value <= -2147483648) {
      return -2147483648;
    }
    return Math.trunc(value);
  }

  const JAVA_SPACE_RE = /[ \t\n\x0b\f\r]+/g;
  const MAX_UUID_LENGTH = 1000;
  const GUID_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const CHOICE_REF_RE = /^\s*\$\{([^}]+)\}\s*$/;

  function substr(text, startValue, endValue) {
    const cps = Array.from(text);
    const length = cps.length;
    let start = javaInt(truncate(startValue));
    let end = endValue === null ? length : javaInt(truncate(endValue));
    if (start < 0) {
      start += length;
    }
    if (end < 0) {
      end += length;
    }
    end = Math.min(Math.max(0, end), length);
    start = Math.min(Math.max(0, start), length);
    return start <= end ? cps.slice(start, end).join('') : '';
  }

  function translate(text, source, target) {
    const from = Array.from(source);
    const to = Array.from(target);
    return Array.from(text).map(function (ch) {
      const index = from.indexOf(ch);
      if (index < 0) {
        return ch;
      }
      return index < to.length ? to[index] : '';
    }).join('');
  }

  function unaryMath(name, x) {
    if (isNaN(x)) {
      return NaN;
    }
    switch (name) {
      case 'abs': return Math.abs(x);
      case 'log': return Math.log(x);
      case 'log10': return Math.log10(x);
      case 'sqrt': return Math.sqrt(x);
      case 'exp': return Math.exp(x);
      case 'exp10': return Math.pow(10, x);
      case 'sin': return Math.sin(x);
      case 'cos': return Math.cos(x);
      case 'tan': return Math.tan(x);
      case 'asin': return Math.asin(x);
      case 'acos': return Math.acos(x);
      default: return Math.atan(x);
    }
  }

  function call(name, args, ctx) {
    if (name === 'if') {
      const chosen = truthy(unpack(evalNode(args[0], ctx))) ? args[1] : args[2];
      return evalNode(chosen, ctx);
    }
    if (name === 'coalesce') {
      const first = unpack(evalNode(args[0], ctx));
      if (first === '' || (typeof first === 'number' && isNaN(first))) {
        return evalNode(args[1], ctx);
      }
      return first;
    }
    if (name === 'indexed-repeat') {
      return indexedRepeat(args, ctx);
    }
    if (name === 'position') {
      return position(args, ctx);
    }
    const raw = args.map(function (arg) { return evalNode(arg, ctx); });
    if (NODESET_FUNCTIONS.indexOf(name) >= 0) {
      return nodesetCall(name, raw);
    }
    const values = raw.map(unpack);
    switch (name) {
      case 'true':
        return true;
      case 'false':
        return false;
      case 'not':
        return !truthy(values[0]);
      case 'boolean':
        return truthy(values[0]);
      case 'boolean-from-string': {
        const text = toString(values[0]);
        return text.toLowerCase() === 'true' || text === '1';
      }
      case 'string':
        return toString(values.length ? values[0] : ctx.current);
      case 'once':
        return ctx.current !== '' ? ctx.current : values[0];
      case 'checklist': {
        const low = javaInt(toNumber(values[0]));
        const high = javaInt(toNumber(values[1]));
        const hits = values.slice(2).filter(truthy).length;
        return (low < 0 || hits >= low) && (high < 0 || hits <= high);
      }
      case 'selected':
        return tokens(toString(values[0])).indexOf(trim(toString(values[1]))) >= 0;
      case 'count-selected':
        return tokens(toString(values[0])).length;
      case 'selected-at': {
        const list = tokens(toString(values[0]));
        const index = javaInt(truncate(toNumber(values[1])));
        return index >= 0 && index < list.length ? list[index] : '';
      }
      case 'jr:choice-name':
        return choiceName(toString(values[0]), toString(values[1]), ctx);
      case 'string-length':
        return Array.from(toString(values.length ? values[0] : ctx.current)).length;
      case 'normalize-space':
        return trim(toString(values.length ? values[0] : ctx.current)).replace(JAVA_SPACE_RE, ' ');
      case 'substr':
        return substr(toString(values[0]), toNumber(values[1]),
                      values.length > 2 ? toNumber(values[2]) : null);
      case 'substring-before':
      case 'substring-after': {
        const text = toString(values[0]);
        const part = toString(values[1]);
        const index = text.indexOf(part);
        if (index < 0) {
          return '';
        }
        return name === 'substring-before' ? text.slice(0, index) : text.slice(index + part.length);
      }
      case 'contains':
        return toString(values[0]).indexOf(toString(values[1])) >= 0;
      case 'starts-with':
        return toString(values[0]).startsWith(toString(values[1]));
      case 'ends-with':
        return toString(values[0]).endsWith(toString(values[1]));
      case 'translate':
        return translate(toString(values[0]), toString(values[1]), toString(values[2]));
      case 'regex':
        return regex(toString(values[0]), toString(values[1]));
      case 'uuid':
        return uuid(values.length ? values[0] : null);
      case 'number':
        return toNumber(values.length ? values[0] : ctx.current);
      case 'int':
        return truncate(toNumber(values[0]));
      case 'round': {
        const places = values.length > 1 ? truncate(toNumber(values[1])) : 0;
        return round(toNumber(values[0]), isNaN(places) ? 0 : places);
      }
      case 'pow':
        return Math.pow(toNumber(values[0]), toNumber(values[1]));
      case 'atan2':
        return Math.atan2(toNumber(values[0]), toNumber(values[1]));
      case 'pi':
        return Math.PI;
      case 'random':
        return ctx.random();
      case 'abs': case 'sqrt': case 'exp': case 'exp10': case 'log': case 'log10':
      case 'sin': case 'cos': case 'tan': case 'asin': case 'acos': case 'atan':
        return unaryMath(name, toNumber(values[0]));
      case 'today':
        return ctx.today;
      case 'now':
        return ctx.now;
      case 'date':
        return toDate(values[0], false);
      case 'date-time':
        return toDate(values[0], true);
      case 'decimal-date-time':
        return decimalDateTime(values[0], true);
      case 'decimal-time':
        return decimalDateTime(values[0], false);
      case 'format-date':
      case 'format-date-time':
        return formatDate(values[0], toString(values[1]));
      default:
        throw new ExpressionError("unknown function '" + name + "()'");
    }
  }

  function nodesetCall(name, raw) {
    if (name === 'count') {
      return items(raw[0]).length;
    }
    if (name === 'count-non-empty') {
      return items(raw[0]).filter(function (item) { return toString(item) !== ''; }).length;
    }
    const list = [];
    (name === 'join' ? raw.slice(1) : raw).forEach(function (value) {
      items(value).forEach(function (item) { list.push(item); });
    });
    if (name === 'sum') {
      let total = 0;
      list.forEach(function (item) {
        const number = toNumber(item);
        if (!isNaN(number)) {
          total += number;
        }
      });
      return total;
    }
    if (name === 'min' || name === 'max') {
      const numbers = list.map(toNumber).filter(function (n) { return !isNaN(n); });
      if (!numbers.length) {
        return NaN;
      }
      let best = numbers[0];
      for (let k = 1; k < numbers.length; k++) {
        if (name === 'min' ? numbers[k] < best : numbers[k] > best) {
          best = numbers[k];
        }
      }
      return best;
    }
    if (name === 'concat') {
      return list.map(toString).join('');
    }
    return list.map(toString).join(toString(unpack(raw[0])));
  }

  function position(args, ctx) {
    const positions = ctx.positions;
    if (!args.length) {
      return positions.length ? positions[positions.length - 1][1] : 1;
    }
    const named = namedField(args[0]);
    if (named !== null) {
      for (let k = 0; k < positions.length; k++) {
        if (positions[k][0] === named) {
          return positions[k][1];
        }
      }
      return 1;
    }
    const ups = args[0][0] === 'path' ? args[0].slice(2).filter(function (step) {
      return step === '..';
    }).length : 0;
    if (ups === 0 || ups > positions.length) {
      return 1;
    }
    return positions[positions.length - ups][1];
  }

  // indexed-repeat(${field}, ${repeat}, i[, ${inner}, j ...]): the answer of field with
  // the given instances of those repeats (the others as in the context).
  function indexedRepeat(args, ctx) {
    const name = namedField(args[0]);
    const found = chainOf(name, ctx.repeats);
    const chain = found === null || found[1] ? [] : found[0];
    const where = {};
    ctx.positions.forEach(function (pair) { where[pair[0]] = pair[1]; });
    for (let k = 1; k < args.length; k += 2) {
      const group = namedField(args[k]);
      const located = chainOf(group, ctx.repeats);
      if (located === null || !located[1]) {
        throw new ExpressionError('indexed-repeat(): ${' + group + '} is not a repeat');
      }
      if (chain.indexOf(group) < 0) {
        throw new ExpressionError('indexed-repeat(): ${' + name + '} is not inside ${' + group + '}');
      }
      const index = javaInt(truncate(toNumber(unpack(evalNode(args[k + 1], ctx)))));
      where[group] = Math.max(index, 1);
    }
    return unpack(repeatValue(name, chain, false, ctx.repeats, where));
  }

  function choiceName(value, reference, ctx) {
    const match = CHOICE_REF_RE.exec(reference);
    let name;
    if (match) {
      name = match[1];
    } else {
      const parts = reference.trim().split('/');
      name = parts[parts.length - 1];
    }
    if (!has(ctx.choices, name)) {
      throw new ExpressionError('jr:choice-name(): no choices known for ${' + name + '}');
    }
    const labels = ctx.choices[name];
    const key = trim(value);
    return has(labels, key) ? labels[key] : '';
  }

  function randomIndex(size) {
    const cryptoApi = typeof globalThis !== 'undefined' ? globalThis.crypto : undefined;
    if (cryptoApi && cryptoApi.getRandomValues) {
      const buffer = new Uint32Array(1);
      cryptoApi.getRandomValues(buffer);
      return buffer[0] % size;
    }
    return Math.floor(Math.random() * size);
  }

  function uuid(length) {
    if (length === null) {
      const cryptoApi = typeof globalThis !== 'undefined' ? globalThis.crypto : undefined;
      if (cryptoApi && cryptoApi.randomUUID) {
        return cryptoApi.randomUUID();
      }
      const hex = '0123456789abcdef';
      let out = '';
      for (let k = 0; k < 36; k++) {
        if (k === 8 || k === 13 || k === 18 || k === 23) {
          out += '-';
        } else if (k === 14) {
          out += '4';
        } else if (k === 19) {
          out += hex.charAt(8 + randomIndex(4));
        } else {
          out += hex.charAt(randomIndex(16));
        }
      }
      return out;
    }
    const size = javaInt(truncate(toNumber(length)));
    if (size > MAX_UUID_LENGTH) {
      throw new ExpressionError('uuid() length above ' + MAX_UUID_LENGTH);
    }
    let out = '';
    for (let k = 0; k < size; k++) {
      out += GUID_CHARS.charAt(randomIndex(GUID_CHARS.length));
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // Dates and times
  // -------------------------------------------------------------------------

  const MOMENT_RE = new RegExp(
    '^([0-9]{4})-([0-9]{2})-([0-9]{2})' +
    '(?:T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\\.([0-9]{1,9}))?)?' +
    '(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$');
  const TIME_RE = /^([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$/;
  const DAY_MS = 86400000;
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const MIN_DATE_DAYS = -719162; // 0001-01-01
  const MAX_DATE_DAYS = 2932896; // 9999-12-31

  // Returns minutes, null when absent, undefined when invalid.
  function offsetMinutes(text) {
    if (text === undefined) {
      return null;
    }
    if (text === 'Z') {
      return 0;
    }
    const sign = text.charAt(0) === '-' ? -1 : 1;
    const digits = text.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = Number(digits.slice(2) || 0);
    if (hours > 23 || minutes > 59) {
      return undefined;
    }
    return sign * (hours * 60 + minutes);
  }

  function clock(hour, minute, second, fraction) {
    const h = Number(hour || 0);
    const m = Number(minute || 0);
    const s = Number(second || 0);
    let digits = (fraction || '0').slice(0, 3);
    while (digits.length < 3) {
      digits += '0';
    }
    if (h > 23 || m > 59 || s > 59) {
      return null;
    }
    return [h, m, s, Number(digits)];
  }

  // [days since epoch, hour, minute, second, ms, offset minutes or null], as written.
  function parseMoment(text) {
    const match = MOMENT_RE.exec(trim(text));
    if (!match) {
      return null;
    }
    const days = daysFromCivil(Number(match[1]), Number(match[2]), Number(match[3]));
    const time = clock(match[4], match[5], match[6], match[7]);
    if (days === null || time === null) {
      return null;
    }
    const offset = offsetMinutes(match[8]);
    if (offset === undefined) {
      return null;
    }
    return [days].concat(time, [offset]);
  }

  function civilFromDays(days) {
    const z = days + 719468;
    const era = floorDiv(z, 146097);
    const dayOfEra = z - era * 146097;
    const yearOfEra = floorDiv(dayOfEra - floorDiv(dayOfEra, 1460) + floorDiv(dayOfEra, 36524) -
                               floorDiv(dayOfEra, 146096), 365);
    const year = yearOfEra + era * 400;
    const dayOfYear = dayOfEra - (365 * yearOfEra + floorDiv(yearOfEra, 4) - floorDiv(yearOfEra, 100));
    const mp = floorDiv(5 * dayOfYear + 2, 153);
    const day = dayOfYear - floorDiv(153 * mp + 2, 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    return [month <= 2 ? year + 1 : year, month, day];
  }

  function dateText(days) {
    const ymd = civilFromDays(days);
    return pad(ymd[0], 4) + '-' + pad(ymd[1], 2) + '-' + pad(ymd[2], 2);
  }

  function cannotBeDate(value) {
    return new ExpressionError("the value '" + toString(value) + "' can't be converted to a date");
  }

  function checkDateRange(value) {
    if (!(value >= MIN_DATE_DAYS && value < MAX_DATE_DAYS + 1)) {
      throw new ExpressionError("the value '" + toString(value) + "' is out of range for a date");
    }
  }

  // A value as a moment (see parseMoment); '' stays ''; NaN gives null.
  function moment(value) {
    if (typeof value === 'boolean') {
      throw cannotBeDate(value);
    }
    if (typeof value === 'number') {
      if (isNaN(value)) {
        return null;
      }
      checkDateRange(value);
      const total = Math.floor(value * DAY_MS + 0.5);
      let days = Math.floor(total / DAY_MS);
      let ms = total - days * DAY_MS;
      if (ms < 0) {
        days -= 1;
        ms += DAY_MS;
      } else if (ms >= DAY_MS) {
        days += 1;
        ms -= DAY_MS;
      }
      return [days, Math.floor(ms / 3600000), Math.floor(ms / 60000) % 60,
              Math.floor(ms / 1000) % 60, ms % 1000, 0];
    }
    if (trim(value) === '') {
      return '';
    }
    const parsed = parseMoment(value);
    if (parsed === null) {
      throw cannotBeDate(value);
    }
    return parsed;
  }

  function toDate(value, withTime) {
    if (typeof value === 'number' && !withTime && !isNaN(value)) {
      value = truncate(value);
    }
    const m = moment(value);
    if (m === null) {
      return NaN;
    }
    if (m === '') {
      return '';
    }
    if (!withTime) {
      return dateText(m[0]);
    }
    let zone = '';
    if (m[5] !== null) {
      const offset = m[5];
      zone = (offset < 0 ? '-' : '+') + pad(Math.floor(Math.abs(offset) / 60), 2) + ':' +
        pad(Math.abs(offset) % 60, 2);
    }
    return dateText(m[0]) + 'T' + pad(m[1], 2) + ':' + pad(m[2], 2) + ':' + pad(m[3], 2) + '.' +
      pad(m[4], 3) + zone;
  }

  function decimalDateTime(value, keepDate) {
    if (typeof value === 'number') {
      if (isNaN(value)) {
        return value;
      }
      checkDateRange(value);
      return keepDate ? value : value - Math.floor(value);
    }
    if (typeof value === 'string' && !keepDate) {
      const match = TIME_RE.exec(trim(value));
      if (match) {
        const time = clock(match[1], match[2], match[3], match[4]);
        if (time === null) {
          throw cannotBeDate(value);
        }
        return ((time[0] * 60 + time[1]) * 60 + time[2] + time[3] / 1000) / 86400;
      }
    }
    const m = moment(value);
    if (m === '') {
      return '';
    }
    const inDay = ((m[1] * 60 + m[2]) * 60 + m[3]) * 1000 + m[4];
    if (!keepDate) {
      return inDay / DAY_MS;
    }
    return (m[0] * DAY_MS + inDay - (m[5] || 0) * 60000) / DAY_MS;
  }

  const DATE_FORMAT_TOKENS = 'YymnbdeHhMS3a%';

  // [code point index, letter] of the first unknown '%' token of a format, or null.
  function badDateFormat(pattern) {
    const cps = Array.from(pattern);
    for (let i = 0; i < cps.length; i++) {
      if (cps[i] === '%') {
        const tok = i + 1 < cps.length ? cps[i + 1] : '';
        if (tok === '' || DATE_FORMAT_TOKENS.indexOf(tok) < 0) {
          return [i, tok];
        }
        i += 1;
      }
    }
    return null;
  }

  function formatDate(value, pattern) {
    const m = moment(value);
    if (m === null || m === '') {
      return '';
    }
    const ymd = civilFromDays(m[0]);
    const fields = {
      Y: pad(ymd[0], 4), y: pad(ymd[0] % 100, 2), m: pad(ymd[1], 2), n: String(ymd[1]),
      b: MONTHS[ymd[1] - 1], d: pad(ymd[2], 2), e: String(ymd[2]), H: pad(m[1], 2),
      h: String(m[1]), M: pad(m[2], 2), S: pad(m[3], 2), '3': pad(m[4], 3),
      a: WEEKDAYS[((m[0] + 4) % 7 + 7) % 7], '%': '%'
    };
    const cps = Array.from(pattern);
    let out = '';
    for (let i = 0; i < cps.length; i++) {
      if (cps[i] !== '%') {
        out += cps[i];
        continue;
      }
      const tok = i + 1 < cps.length ? cps[i + 1] : '';
      if (!has(fields, tok)) {
        throw new ExpressionError("unknown date format '%" + tok + "'");
      }
      out += fields[tok];
      i += 1;
    }
    return out;
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
  // XML Schema's \i (XML name start characters) and \c (XML name characters).
  const NAME_START_RANGES = [
    [0x3A, 0x3A], [0x41, 0x5A], [0x5F, 0x5F], [0x61, 0x7A], [0xC0, 0xD6], [0xD8, 0xF6],
    [0xF8, 0x2FF], [0x370, 0x37D], [0x37F, 0x1FFF], [0x200C, 0x200D], [0x2070, 0x218F],
    [0x2C00, 0x2FEF], [0x3001, 0xD7FF], [0xF900, 0xFDCF], [0xFDF0, 0xFFFD],
    [0x10000, 0xEFFFF]];
  const NAME_RANGES = NAME_START_RANGES.concat([
    [0x2D, 0x2E], [0x30, 0x39], [0xB7, 0xB7], [0x300, 0x36F], [0x203F, 0x2040]]).sort(
    function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
  const CLASS_ESCAPES = {d: DIGIT_RANGES, w: WORD_RANGES, s: SPACE_RANGES,
                         i: NAME_START_RANGES, c: NAME_RANGES};
  const NEGATED_CLASS_ESCAPES = {D: DIGIT_RANGES, W: WORD_RANGES, S: SPACE_RANGES,
                                 I: NAME_START_RANGES, C: NAME_RANGES};
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
          if (i === n) {
            return true;
          }
        } else {
          out.push(pc);
        }
      }
      return false;
    }

    // The whole text must match (Java's Pattern.matches, as JavaRosa does).
    let current = [];
    for (let i = 0; i <= n; i++) {
      if (i === 0 && closure(0, i, current)) {
        return true;
      }
      if (!current.length) {
        return false;
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
    seedFor: seedFor,
    ExpressionError: ExpressionError,
    limits: {
      MAX_EXPRESSION_LENGTH: MAX_EXPRESSION_LENGTH,
      MAX_DEPTH: MAX_DEPTH,
      MAX_REGEX_PATTERN_LENGTH: MAX_REGEX_PATTERN_LENGTH,
      MAX_REGEX_INPUT_LENGTH: MAX_REGEX_INPUT_LENGTH
    }
  };
}));
