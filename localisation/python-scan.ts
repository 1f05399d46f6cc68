import type { FileSummary, PyImport, PySymbol } from './python-parse.js';

/**
 * A hand-written line and indentation scanner that reads the same summary as `summarisePython`
 * (tree-sitter) for ordinary Python files, several times faster, because indexing needs only
 * definitions, imports and docstrings, not a syntax tree.
 *
 * It models only what it checks: strings (prefixes, triple quotes, f-string fields), comments,
 * brackets, backslash continuations, indentation blocks, decorators, compound statements and
 * import forms. Anything outside that model, or anything that may make tree-sitter report a
 * syntax error (which changes what tree-sitter reads), makes it give up with a reason, and the
 * caller parses that file with tree-sitter instead.
 */
export type ScanResult = { summary: FileSummary } | { unsure: string; line: number };

class Unsure extends Error {}

const fail = (why: string): never => {
  throw new Unsure(why);
};

/** Unicode identifiers, as Python (and tree-sitter) read them. */
const ID_START = /[\p{L}\p{Nl}]/u;
const ID_CONTINUE = /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]/u;

// Token kinds.
const NAME = 1;
const NUMBER = 2;
const STRING = 3;
const OP = 4;

const CH_NL = 10;
const CH_CR = 13;
const CH_SP = 32;
const CH_TAB = 9;
const CH_HASH = 35;
const CH_BSL = 92;
const CH_DQ = 34;
const CH_SQ = 39;

/** Compound statements whose blocks `summarisePython` descends into (definitions and imports inside loops and `match` are not read). */
const VISITED_CLAUSES = new Set(['if', 'elif', 'else-if', 'try', 'except', 'else-try', 'finally', 'with']);
/** Python's keywords and soft keywords: the only names that may stand next to another operand. */
const KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case type'.split(' '),
);
/** Keywords that are values. */
const OPERAND_KEYWORDS = new Set(['True', 'False', 'None']);
/** Keywords that may follow an operand (`x if y else z`, `a not in b`, `raise E from e`). */
const INFIX_KEYWORDS = new Set(['if', 'else', 'for', 'in', 'is', 'and', 'or', 'not', 'as', 'from', 'async']);
const COMPOUND_KEYWORDS = new Set(['if', 'elif', 'else', 'try', 'except', 'finally', 'with', 'for', 'while', 'def', 'class', 'async']);
/** A clause's kind given the kind of the statement before it at the same level (undefined: not Python). */
const CLAUSE_AFTER = new Map<string, (prev: string) => string | undefined>([
  ['elif', (p) => (p === 'if' || p === 'elif' ? 'elif' : undefined)],
  ['else', (p) => (p === 'if' || p === 'elif' ? 'else-if' : p === 'except' ? 'else-try' : p === 'for' || p === 'while' ? 'else-loop' : undefined)],
  ['except', (p) => (p === 'try' || p === 'except' ? 'except' : undefined)],
  ['finally', (p) => (p === 'try' || p === 'except' || p === 'else-try' ? 'finally' : undefined)],
]);

interface Frame {
  /** Indentation of the block's statements (tree-sitter's measure: a tab counts 8). */
  indent: number;
  /** Whether definitions and imports in this block are read. */
  collect: boolean;
  scope: string[];
  inClass: boolean;
  /** The definition whose body this is: its end line is set when the block closes. */
  owner?: PySymbol;
  /** True until the block's first statement is seen (a docstring candidate). */
  first: boolean;
  /** The kind of the last statement at this level, for `elif`/`else`/`except`/`finally`. */
  prev: string;
}

interface PendingBlock {
  headerIndent: number;
  collect: boolean;
  scope: string[];
  inClass: boolean;
  owner?: PySymbol;
}

/** Reads a file's summary, or says why it cannot be sure to match tree-sitter. */
export function scanPython(path: string, text: string): ScanResult {
  let scanner: Scanner | undefined;
  try {
    scanner = new Scanner(path, text);
    return { summary: scanner.run() };
  } catch (e) {
    if (e instanceof Unsure) return { unsure: e.message, line: scanner?.line ?? 0 };
    throw e;
  }
}

class Scanner {
  private i = 0;
  line = 1;
  private readonly n: number;
  // The current logical line's tokens, in parallel arrays reused from line to line.
  private kind: number[] = [];
  private start: number[] = [];
  private end: number[] = [];
  private depth: number[] = [];
  private count = 0;
  private readonly symbols: PySymbol[] = [];
  private readonly imports: PyImport[] = [];
  private docstring: string | undefined;
  private readonly frames: Frame[] = [{ indent: 0, collect: true, scope: [], inClass: false, first: true, prev: '' }];
  private pending: PendingBlock | undefined;
  /** Line of the first decorator of a definition still to come, and the decorators' indentation. */
  private decoratorLine = 0;
  private decoratorIndent = -1;
  /** Comment lines (line, column) since the last code line: a closing block takes those indented at least as deep as it. */
  private commentLines: number[] = [];
  private commentCols: number[] = [];
  private comments = 0;
  private commentTaken = 0;
  private lastCodeEnd = 0;
  private usesTabs = false;
  private usesSpaces = false;

  constructor(
    private readonly path: string,
    private readonly text: string,
  ) {
    this.n = text.length;
  }

  run(): FileSummary {
    const { text, n } = this;
    if (n > 0 && text.charCodeAt(0) === 0xfeff) fail('byte order mark');
    while (this.i < n) {
      // At the start of a physical line outside any statement.
      let col = 0;
      let tabs = false;
      let spaces = false;
      let c = text.charCodeAt(this.i);
      while (c === CH_SP || c === CH_TAB) {
        if (c === CH_TAB) {
          if (spaces) fail('tab after spaces in indentation');
          tabs = true;
          col += 8;
        } else {
          spaces = true;
          col += 1;
        }
        c = text.charCodeAt(++this.i);
      }
      if (this.i >= n) break;
      if (c === CH_NL) {
        this.i++;
        this.line++;
        continue;
      }
      if (c === CH_CR) {
        if (text.charCodeAt(this.i + 1) !== CH_NL) fail('carriage return without line feed');
        this.i += 2;
        this.line++;
        continue;
      }
      if (c === CH_HASH) {
        this.commentLines[this.comments] = this.line;
        this.commentCols[this.comments++] = col;
        this.skipComment();
        continue;
      }
      if (c === 12) fail('form feed');
      if (c === CH_BSL) fail('continuation at line start');
      if (tabs) this.usesTabs = true;
      if (spaces) this.usesSpaces = true;
      if (this.usesTabs && this.usesSpaces) fail('tabs and spaces both indent');
      const startLine = this.line;
      const endLine = this.readLogicalLine();
      this.statementLine(col, startLine, endLine);
      this.lastCodeEnd = endLine;
      this.comments = 0;
      this.commentTaken = 0;
    }
    if (this.pending) fail('block header at end of file');
    if (this.decoratorLine) fail('decorator at end of file');
    while (this.frames.length > 1) this.closeFrame();
    this.checkTry(this.frames[0]!);
    const summary: FileSummary = { path: this.path, symbols: this.symbols, imports: this.imports, hasErrors: false };
    if (this.docstring) summary.docstring = this.docstring;
    return summary;
  }

  private skipComment(): void {
    const nl = this.text.indexOf('\n', this.i);
    const stop = nl < 0 ? this.n : nl;
    for (let k = this.i; k < stop; k++) if (this.text.charCodeAt(k) === CH_CR && k + 1 !== stop) fail('carriage return in comment');
    this.i = stop;
  }

  // ---- tokens ----

  private push(kind: number, start: number, end: number, depth: number): void {
    if (this.count > 0) {
      if (kind !== OP) this.checkAdjacent(kind, start, end);
      if (kind !== NAME && this.isAttributeDot(this.count - 1)) fail('dot without a name after it');
    }
    const k = this.count++;
    this.kind[k] = kind;
    this.start[k] = start;
    this.end[k] = end;
    this.depth[k] = depth;
  }

  /** A lone `.` outside a relative import must be followed by an attribute name. */
  private isAttributeDot(k: number): boolean {
    return this.kind[k] === OP && this.end[k]! - this.start[k]! === 1 && this.text.charCodeAt(this.start[k]!) === 46 && !this.wordBefore('from');
  }

  /** Set when the line assigns a starred value: `x = *a, b` is a tuple, `x = *a` is not Python. */
  private starredValue = false;

  /** Whether the logical line so far holds the keyword: `raise` lets `from` follow an operand, `from` lets `import` and relative dots. */
  private wordBefore(keyword: string): boolean {
    for (let k = this.count - 1; k >= 0; k--) if (this.word(k) === keyword) return true;
    return false;
  }

  private isKeyword(k: number): boolean {
    return this.keywordAt(k) !== '' && KEYWORDS.has(this.keywordAt(k));
  }

  /**
   * Two operands in a row (`print x`, `lazy import m`, `21 'banana'`) are not Python 3; Python 2
   * statements and half-typed code are where tree-sitter reports errors.
   */
  private checkAdjacent(kind: number, start: number, end: number): void {
    const p = this.count - 1;
    const pk = this.kind[p];
    const closer = pk === OP && (this.text.charCodeAt(this.start[p]!) === 41 || this.text.charCodeAt(this.start[p]!) === 93 || this.text.charCodeAt(this.start[p]!) === 125);
    if (pk === OP && !closer) return;
    if (kind === STRING && pk === STRING) return;
    if (kind === NAME) {
      // Keywords are at most 8 letters: longer names need no slice to rule them out.
      const word = end - start <= 8 ? this.text.slice(start, end) : '';
      if (KEYWORDS.has(word)) {
        if ((INFIX_KEYWORDS.has(word) && (word !== 'from' || this.wordBefore('raise'))) || (word === 'import' && this.wordBefore('from')) || pk === NAME && !OPERAND_KEYWORDS.has(this.text.slice(this.start[p], this.end[p])) && KEYWORDS.has(this.text.slice(this.start[p], this.end[p]))) return;
        fail(`${word} after an operand`);
      }
    }
    if (this.isKeyword(p) && !OPERAND_KEYWORDS.has(this.text.slice(this.start[p], this.end[p]))) return;
    fail('two operands in a row');
  }

  /** Tokenises one logical line (through its newline outside brackets) and returns the line it ends on. */
  private readLogicalLine(): number {
    const { text, n } = this;
    this.count = 0;
    this.starredValue = false;
    const brackets: number[] = [];
    const openAt: number[] = [];
    for (;;) {
      if (this.i >= n) {
        if (brackets.length) fail('unclosed bracket at end of file');
        if (this.count && this.isAttributeDot(this.count - 1)) fail('dot without a name after it');
        return this.line;
      }
      const c = text.charCodeAt(this.i);
      if (c === CH_SP || c === CH_TAB) {
        this.i++;
        continue;
      }
      if (c === CH_NL || c === CH_CR) {
        if (c === CH_CR && text.charCodeAt(this.i + 1) !== CH_NL) fail('carriage return without line feed');
        if (!brackets.length) {
          if (this.count && this.isAttributeDot(this.count - 1)) fail('dot without a name after it');
          this.i += c === CH_CR ? 2 : 1;
          return this.line++;
        }
        this.i += c === CH_CR ? 2 : 1;
        this.line++;
        continue;
      }
      if (c === CH_HASH) {
        this.skipComment();
        continue;
      }
      if (c === CH_BSL) {
        let k = this.i + 1;
        if (text.charCodeAt(k) === CH_CR) k++;
        if (text.charCodeAt(k) !== CH_NL) fail('backslash outside a string');
        this.i = k + 1;
        this.line++;
        // A continuation into a blank or comment line is where Python and tree-sitter differ.
        let j = this.i;
        while (text.charCodeAt(j) === CH_SP || text.charCodeAt(j) === CH_TAB) j++;
        const d = text.charCodeAt(j);
        if (j >= n || d === CH_NL || d === CH_CR || d === CH_HASH) fail('continuation into an empty line');
        continue;
      }
      const depth = brackets.length;
      if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (c >= 128 && ID_START.test(String.fromCodePoint(text.codePointAt(this.i)!)))) {
        const s = this.i;
        let k = s + (c >= 0xd800 && c <= 0xdbff ? 2 : 1);
        for (;;) {
          const d = text.charCodeAt(k);
          if ((d >= 97 && d <= 122) || (d >= 65 && d <= 90) || d === 95 || (d >= 48 && d <= 57)) k++;
          else if (d >= 128 && ID_CONTINUE.test(String.fromCodePoint(text.codePointAt(k)!))) k += d >= 0xd800 && d <= 0xdbff ? 2 : 1;
          else break;
        }
        const q = text.charCodeAt(k);
        if (q === CH_DQ || q === CH_SQ) {
          const prefix = text.slice(s, k).toLowerCase();
          if (!/^(?:r|u|b|f|br|rb|fr|rf)$/.test(prefix)) fail(`string prefix ${prefix}`);
          this.i = k;
          this.readString(prefix.includes('f'), prefix.includes('r'));
          this.push(STRING, s, this.i, depth);
          continue;
        }
        this.i = k;
        if (depth && k - s === 3 && text.startsWith('for', s)) {
          // `[*a for a in b]`, `{**m for m in ms}`: unpacking in a comprehension (Python 3.15) is an error for tree-sitter.
          const o = openAt[depth - 1]!;
          if (o + 1 < this.count && this.kind[o + 1] === OP && text.charCodeAt(this.start[o + 1]!) === 42) fail('unpacking in a comprehension');
        }
        this.push(NAME, s, k, depth);
        continue;
      }
      if (c === CH_DQ || c === CH_SQ) {
        const s = this.i;
        this.readString(false, false);
        this.push(STRING, s, this.i, depth);
        continue;
      }
      if ((c >= 48 && c <= 57) || (c === 46 && isDigit(text.charCodeAt(this.i + 1)))) {
        this.readNumber(depth);
        continue;
      }
      switch (c) {
        case 40: // (
        case 91: // [
        case 123: // {
          brackets.push(c);
          openAt[depth] = this.count;
          this.push(OP, this.i, ++this.i, depth);
          continue;
        case 41: // )
        case 93: // ]
        case 125: {
          // }
          const open = brackets.pop();
          if (open === undefined || open !== (c === 41 ? 40 : c - 2)) fail('mismatched bracket');
          this.push(OP, this.i, ++this.i, depth - 1);
          continue;
        }
        case 58: // : or :=
          this.push(OP, this.i, text.charCodeAt(this.i + 1) === 61 ? (this.i += 2) : ++this.i, depth);
          continue;
        case 60: // <
          if (text.charCodeAt(this.i + 1) === 62) fail('<> operator');
          this.push(OP, this.i, ++this.i, depth);
          continue;
        case 33: // !
          if (text.charCodeAt(this.i + 1) !== 61) fail('stray !');
          this.push(OP, this.i, (this.i += 2), depth);
          continue;
        case 61: // = followed by a starred value, or assigning to True, False or None (Python 2 did)
          if (!depth && /^=\s*\*(?!\*)/.test(text.slice(this.i, this.i + 40))) this.starredValue = true;
          if (this.count === 1 && text.charCodeAt(this.i + 1) !== 61 && this.kind[0] === NAME && OPERAND_KEYWORDS.has(this.word(0))) fail('assignment to a constant');
          this.push(OP, this.i, ++this.i, depth);
          continue;
        case 46: // . or ...
          if (text.charCodeAt(this.i + 1) === 46 && text.charCodeAt(this.i + 2) === 46) {
            this.push(OP, this.i, (this.i += 3), depth);
            continue;
          }
          this.push(OP, this.i, ++this.i, depth);
          continue;
        case 44: // ,
        case 59: // ;
        case 64: // @
        case 43: // +
        case 45: // -
        case 42: // *
        case 47: // /
        case 37: // %
        case 38: // &
        case 124: // |
        case 94: // ^
        case 126: // ~
        case 62: // >
          this.push(OP, this.i, ++this.i, depth);
          continue;
        default:
          fail(`unexpected character ${JSON.stringify(text[this.i])}`);
      }
    }
  }

  private readNumber(depth: number): void {
    const { text } = this;
    const s = this.i;
    let k = s;
    for (;;) {
      const d = text.charCodeAt(k);
      if (isDigit(d) || (d >= 97 && d <= 122) || (d >= 65 && d <= 90) || d === 95 || d === 46) {
        k++;
        if ((d === 101 || d === 69) && !/^0[xX]/.test(text.slice(s, k)) && (text.charCodeAt(k) === 43 || text.charCodeAt(k) === 45)) k++;
      } else break;
    }
    const num = text.slice(s, k);
    // Python 2 octals and long suffixes, and anything that is not a plain Python 3 literal.
    const plain = /^(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?[jJ]?)$/;
    if (!plain.test(num) || /^0[0-9_]*[1-9][0-9_]*$/.test(num)) fail(`number ${num}`);
    this.push(NUMBER, s, k, depth);
    this.i = k;
  }

  /** Reads a string literal from its opening quote; tracks lines it spans. */
  private readString(fstring: boolean, raw: boolean): void {
    const { text, n } = this;
    const q = text.charCodeAt(this.i);
    const triple = text.charCodeAt(this.i + 1) === q && text.charCodeAt(this.i + 2) === q;
    this.i += triple ? 3 : 1;
    let field = 0; // bracket depth inside an f-string replacement field
    for (;;) {
      if (this.i >= n) fail('unterminated string');
      const c = text.charCodeAt(this.i);
      if (c === CH_BSL) {
        const d = text.charCodeAt(this.i + 1);
        if (d === CH_NL) this.line++;
        else if (d === CH_CR) {
          if (text.charCodeAt(this.i + 2) !== CH_NL) fail('carriage return without line feed');
          this.i++;
          this.line++;
        }
        if (field && !raw) fail('backslash in an f-string field');
        this.i += 2;
        continue;
      }
      if (c === CH_NL) {
        if (!triple) fail('line break in a one-line string');
        this.line++;
        this.i++;
        continue;
      }
      if (c === CH_CR) {
        if (text.charCodeAt(this.i + 1) !== CH_NL) fail('carriage return without line feed');
        this.i++;
        continue;
      }
      if (field) {
        if (c === q && (!triple || (text.charCodeAt(this.i + 1) === q && text.charCodeAt(this.i + 2) === q))) fail('quote of the enclosing f-string inside a field');
        if (c === CH_DQ || c === CH_SQ) {
          this.readString(false, false);
          continue;
        }
        if (c === CH_HASH) fail('comment in an f-string field');
        if (c === 123 || c === 40 || c === 91) field++;
        else if (c === 125 || c === 41 || c === 93) field--;
        this.i++;
        continue;
      }
      if (c === q) {
        if (!triple) {
          this.i++;
          return;
        }
        if (text.charCodeAt(this.i + 1) === q && text.charCodeAt(this.i + 2) === q) {
          this.i += 3;
          return;
        }
        this.i++;
        continue;
      }
      if (fstring && c === 123) {
        if (text.charCodeAt(this.i + 1) === 123) {
          this.i += 2;
          continue;
        }
        field = 1;
      }
      this.i++;
    }
  }

  // ---- statements ----

  /** The name at token k when it is short enough to be a keyword (every word statements are told by), else ''. */
  private keywordAt(k: number): string {
    return k < this.count && this.kind[k] === NAME && this.end[k]! - this.start[k]! <= 8 ? this.text.slice(this.start[k], this.end[k]) : '';
  }

  private word(k: number): string {
    return k < this.count && this.kind[k] === NAME ? this.text.slice(this.start[k], this.end[k]) : '';
  }

  private op(k: number): number {
    return k < this.count && this.kind[k] === OP ? this.text.charCodeAt(this.start[k]!) + (this.end[k]! - this.start[k]! > 1 ? 1000 : 0) : -1;
  }

  /** The first `:` outside brackets from token `from`, or -1. */
  private headerColon(from: number): number {
    for (let k = from; k < this.count; k++) {
      if (this.depth[k] !== 0) continue;
      if (this.kind[k] === OP && this.op(k) === 58) return k;
      if (this.kind[k] === NAME && this.word(k) === 'lambda') fail('lambda in a block header');
    }
    return -1;
  }

  private closeFrame(): void {
    const frame = this.frames.pop()!;
    this.checkTry(frame);
    while (this.commentTaken < this.comments && this.commentCols[this.commentTaken]! >= frame.indent) this.commentTaken++;
    if (frame.owner) frame.owner.endLine = this.commentTaken > 0 ? this.commentLines[this.commentTaken - 1]! : this.lastCodeEnd;
  }

  private checkTry(frame: Frame): void {
    if (frame.prev === 'try') fail('try without except or finally');
  }

  private statementLine(indent: number, startLine: number, endLine: number): void {
    if (this.count === 0) fail('empty logical line');
    let frame = this.frames[this.frames.length - 1]!;
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      if (indent <= p.headerIndent) fail('block without an indented body');
      frame = { indent, collect: p.collect, scope: p.scope, inClass: p.inClass, first: true, prev: '' };
      if (p.owner) frame.owner = p.owner;
      this.frames.push(frame);
    } else if (indent > frame.indent) {
      fail('unexpected indent');
    } else if (indent < frame.indent) {
      while (indent < frame.indent) {
        this.closeFrame();
        frame = this.frames[this.frames.length - 1]!;
      }
      if (indent !== frame.indent) fail('dedent to no enclosing level');
    }
    if (this.decoratorLine && indent !== this.decoratorIndent) fail('decorator without a definition');

    const first = frame.first;
    frame.first = false;
    const w0 = this.keywordAt(0);
    if (frame.prev === 'try' && w0 !== 'except' && w0 !== 'finally') fail('try without except or finally');

    if (first && this.kind[0] === STRING) {
      const doc = this.docstringAt(0);
      if (doc !== undefined) {
        if (frame.owner) {
          if (doc) frame.owner.docstring = doc;
        } else if (this.frames.length === 1 && doc) this.docstring = doc;
      }
    }

    if (this.op(0) === 64) {
      // A decorator: the definition it decorates starts here.
      if (!this.decoratorLine) {
        this.decoratorLine = startLine;
        this.decoratorIndent = indent;
      }
      frame.prev = 'decorator';
      return;
    }

    let head = 0;
    let keyword = w0;
    if (w0 === 'async') {
      keyword = this.word(1);
      if (keyword !== 'def' && keyword !== 'with' && keyword !== 'for') fail('async outside async def/with/for');
      head = 1;
    }
    if (this.decoratorLine && keyword !== 'def' && keyword !== 'class') fail('decorator without a definition');

    if (keyword === 'def' || keyword === 'class') {
      const name = this.word(head + 1);
      if (!name) fail('definition without a name');
      const after = this.op(head + 2);
      if (keyword === 'def' ? after !== 40 : after !== 40 && after !== 58) fail('definition header form');
      const colon = this.headerColon(head + 2);
      if (colon < 0) fail('definition without a colon');
      const isClass = keyword === 'class';
      const symbol: PySymbol = {
        kind: isClass ? 'class' : frame.inClass ? 'method' : 'function',
        name,
        qualname: [...frame.scope, name].join('.'),
        startLine: this.decoratorLine || startLine,
        endLine,
      };
      this.decoratorLine = 0;
      this.decoratorIndent = -1;
      if (frame.collect) this.symbols.push(symbol);
      frame.prev = 'def';
      this.body(colon, { headerIndent: indent, collect: frame.collect, scope: [...frame.scope, name], inClass: isClass, owner: symbol });
      return;
    }

    let clause: string | undefined;
    if (keyword === 'if' || keyword === 'try' || keyword === 'with' || keyword === 'for' || keyword === 'while') clause = keyword;
    else if (CLAUSE_AFTER.has(keyword)) {
      clause = CLAUSE_AFTER.get(keyword)!(frame.prev);
      if (!clause) fail(`${keyword} without its statement`);
      if (keyword === 'except' && this.op(1) === 42) fail('except*');
      if (keyword === 'except') for (let k = 1; k < this.count && this.op(k) !== 58; k++) if (this.depth[k] === 0 && this.op(k) === 44) fail('except with a comma');
    } else if ((w0 === 'match' || w0 === 'case') && this.op(this.count - 1) === 58 && this.depth[this.count - 1] === 0 && this.count > 2) {
      clause = w0;
    }
    if (clause) {
      const colon = this.headerColon(head + 1);
      if (colon < 0) fail('block header without a colon');
      frame.prev = clause;
      const collect = frame.collect && VISITED_CLAUSES.has(clause);
      this.body(colon, { headerIndent: indent, collect, scope: frame.scope, inClass: frame.inClass });
      return;
    }
    frame.prev = 'simple';
    this.simpleStatements(0, this.count, frame.collect);
  }

  /** A block header's body: inline after the colon, or the indented block that follows. */
  private body(colon: number, block: PendingBlock): void {
    if (colon === this.count - 1) {
      this.pending = block;
      return;
    }
    const w = this.word(colon + 1);
    if (COMPOUND_KEYWORDS.has(w) || this.op(colon + 1) === 64) fail('compound statement after a colon');
    if (block.owner && this.kind[colon + 1] === STRING) {
      const doc = this.docstringAt(colon + 1);
      if (doc) block.owner.docstring = doc;
    }
    this.simpleStatements(colon + 1, this.count, block.collect);
  }

  /** Simple statements separated by `;` between tokens `from` and `to` (a trailing `;` is allowed). */
  private simpleStatements(from: number, to: number, collect: boolean): void {
    let s = from;
    for (let k = from; k <= to; k++) {
      if (k < to && !(this.depth[k] === 0 && this.op(k) === 59)) continue;
      if (k > s) this.simpleStatement(s, k, collect);
      else if (k < to || s === from) fail('empty statement');
      s = k + 1;
    }
  }

  private simpleStatement(from: number, to: number, collect: boolean): void {
    const w = this.keywordAt(from);
    if (this.starredValue) {
      let comma = false;
      for (let k = from; k < to; k++) if (this.depth[k] === 0 && this.op(k) === 44) comma = true;
      if (!comma) fail('starred assignment value');
    }
    if (w === 'import') this.readImport(from + 1, to, collect);
    else if (w === 'from') this.readFromImport(from + 1, to, collect);
    else if (w === 'print' || w === 'exec') {
      if (from + 1 < to && this.op(from + 1) !== 40) fail(`${w} statement`);
    } else if (COMPOUND_KEYWORDS.has(w) || w === 'elif' || w === 'else' || w === 'except' || w === 'finally') fail(`${w} after a semicolon or colon`);
    else if (w === 'raise') {
      for (let k = from + 1; k < to; k++) if (this.depth[k] === 0 && this.op(k) === 44) fail('raise with a comma');
    }
    if (this.depth[to - 1] === 0 && this.op(to - 1) === 58) fail('simple statement ending in a colon');
  }

  /** `a.b.c` from token k; returns the text and the token after it. */
  private dotted(k: number, to: number): [string, number] {
    if (k >= to || this.kind[k] !== NAME) fail('import without a name');
    let name = this.word(k);
    k++;
    while (k + 1 < to && this.op(k) === 46 && this.kind[k + 1] === NAME) {
      name += `.${this.word(k + 1)}`;
      k += 2;
    }
    return [name, k];
  }

  private readImport(k: number, to: number, collect: boolean): void {
    const found: PyImport[] = [];
    for (;;) {
      const [module, next] = this.dotted(k, to);
      k = next;
      if (this.word(k) === 'as') {
        if (k + 1 >= to || this.kind[k + 1] !== NAME) fail('import alias');
        k += 2;
      }
      found.push({ module, level: 0, names: [] });
      if (k === to) break;
      if (this.op(k) !== 44) fail('import form');
      k++;
    }
    if (collect) this.imports.push(...found);
  }

  private readFromImport(k: number, to: number, collect: boolean): void {
    let level = 0;
    while (k < to && (this.op(k) === 46 || this.op(k) === 1046)) {
      if (level && this.start[k] !== this.end[k - 1]) fail('spaced relative import dots');
      level += this.end[k]! - this.start[k]!;
      k++;
    }
    let module = '';
    if (this.word(k) !== 'import') [module, k] = this.dotted(k, to);
    if (this.word(k) !== 'import') fail('from without import');
    k++;
    const names: string[] = [];
    if (this.op(k) === 42) {
      if (k + 1 !== to) fail('import * form');
    } else {
      const paren = this.op(k) === 40;
      let end = to;
      if (paren) {
        if (this.op(to - 1) !== 41 || this.depth[to - 1] !== 0) fail('import parentheses');
        k++;
        end = to - 1;
      }
      for (;;) {
        const [name, next] = this.dotted(k, end);
        k = next;
        if (this.word(k) === 'as') {
          if (k + 1 >= end || this.kind[k + 1] !== NAME) fail('import alias');
          k += 2;
        }
        names.push(name);
        if (k === end) break;
        if (this.op(k) !== 44) fail('import form');
        k++;
        if (k === end) {
          if (!paren) fail('trailing comma without parentheses');
          break;
        }
      }
    }
    if (level === 0 && module === '__future__') return;
    if (collect) this.imports.push({ module, level, names });
  }

  /** The docstring if the statement at token k is a lone string ('' when empty), undefined when it is not one. */
  private docstringAt(k: number): string | undefined {
    const next = k + 1 < this.count ? this.kind[k + 1] : 0;
    if (next === STRING) return undefined; // implicit concatenation
    if (next === OP) {
      const o = this.op(k + 1);
      if (o === 44 || o === 61 || o === 58) fail('string statement form');
      if (o !== 59) return undefined;
    } else if (next) return undefined;
    const raw = this.text.slice(this.start[k], this.end[k]);
    let p = 0;
    while (raw.charCodeAt(p) !== CH_DQ && raw.charCodeAt(p) !== CH_SQ) p++;
    const prefix = raw.slice(0, p).toLowerCase();
    const q = raw.charCodeAt(p);
    const triple = raw.charCodeAt(p + 1) === q && raw.charCodeAt(p + 2) === q && raw.length >= p + 6;
    const quote = triple ? 3 : 1;
    const content = raw.slice(p + quote, raw.length - quote);
    if (prefix.includes('f') && content.includes('{')) fail('f-string docstring with fields');
    return content.trim().slice(0, 2000);
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
