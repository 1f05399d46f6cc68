import type { FileSummary, PyImport, PySymbol } from './python-parse.js';

/**
 * A hand-written line and indentation scanner that reads the same summary as
 * `summarisePythonTree` (tree-sitter) for ordinary Python files, several times faster, because
 * indexing needs only definitions, imports and docstrings, not a syntax tree.
 *
 * It models only what it checks: strings (prefixes, triple quotes, f-string fields), comments,
 * brackets, backslash continuations, indentation blocks, decorators, compound statements and
 * import forms. Anything outside that model, or anything it sees that may change what tree-sitter
 * reads (a keyword where a definition, import or attribute name goes, an identifier character
 * tree-sitter's older Unicode tables may not share), makes it give up with a reason, and the
 * caller parses that file with tree-sitter instead.
 *
 * For files tree-sitter parses without errors the summary is meant to be tree-sitter's exactly
 * (bench/python-scan-check.ts checks that file by file over whole repositories).
 * It is not a grammar, so it does not find every syntax error: it catches the common ones cheaply
 * (two operators or operands in a row, an operator or keyword without its operand, `x if c`
 * without `else`, `pass 1`, `->` outside a definition, ...) and gives up on them, but some invalid
 * files (`f() = 1`, `{: 1}`, `with a as:`) are summarised by the scanner, with `hasErrors: false`
 * where tree-sitter would say true, and what they define and import may differ from what
 * tree-sitter's error recovery reads. Ranking does not read `hasErrors`.
 */
export type ScanResult = { summary: FileSummary } | { unsure: string; line: number };

class Unsure extends Error {}

const fail = (why: string): never => {
  throw new Unsure(why);
};

/**
 * Unicode identifiers as tree-sitter-python reads them (`[_\p{XID_Start}][_\p{XID_Continue}]*`).
 * Its character tables come from an older Unicode than Node's, and the two agree only below
 * U+0888 (the first character Unicode added to XID since), so beyond that the scanner gives up.
 */
const ID_START = /[\p{XID_Start}_]/u;
const ID_CONTINUE = /\p{XID_Continue}/u;
const SHARED_UNICODE_END = 0x880;

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
  (
    'False None True and as assert async await break class continue def del elif else except finally ' +
    'for from global if import in is lambda nonlocal not or pass raise return try while with yield match case type'
  ).split(' '),
);
/** Words tree-sitter never reads as a name (its `reserved` list): a definition, import or attribute named so is an error. */
const RESERVED = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except finally ' +
    'for from global if import in is lambda nonlocal not or pass raise return try while with yield'
  ).split(' '),
);
/** Keywords that need an operand after them: followed by `,`, `;`, `=`, a closing bracket or the line's end, the line is not Python. */
const NEEDS_OPERAND_KEYWORDS = new Set([
  'and',
  'or',
  'not',
  'in',
  'is',
  'as',
  'if',
  'else',
  'elif',
  'while',
  'for',
  'with',
  'del',
  'global',
  'nonlocal',
  'assert',
  'await',
  'lambda',
  'import',
  'from',
  'class',
  'def',
]);
/** Keywords that only begin a statement (or follow `async`). */
const STATEMENT_KEYWORDS = new Set([
  'assert',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'except',
  'finally',
  'global',
  'nonlocal',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
]);
/** Keywords that join two operands, so cannot start a statement or follow an operator. */
const BINARY_KEYWORDS = new Set(['and', 'or', 'is', 'in', 'as', 'if', 'else']);
/**
 * Keywords and the Python 2 statement words by first two letters and length (at most two a key: `def`/`del`,
 * `elif`/`else`), so a name is told from them without slicing it.
 */
const KEYWORD_TABLE: Array<string[] | undefined> = [];
const keywordKey = (c0: number, c1: number, len: number): number => (c0 * 128 + c1) * 16 + len;
for (const w of [...KEYWORDS, 'print', 'exec'])
  (KEYWORD_TABLE[keywordKey(w.charCodeAt(0), w.charCodeAt(1), w.length)] ??= []).push(w);

/** The keyword (or `print`/`exec`) the name text[start, end) is, else ''. */
function keywordIn(text: string, start: number, end: number): string {
  const len = end - start;
  if (len < 2 || len > 8) return '';
  const c0 = text.charCodeAt(start);
  const c1 = text.charCodeAt(start + 1);
  if (c0 >= 128 || c1 >= 128) return '';
  const candidates = KEYWORD_TABLE[keywordKey(c0, c1, len)];
  if (candidates === undefined) return '';
  next: for (const w of candidates) {
    for (let k = 2; k < len; k++) if (w.charCodeAt(k) !== text.charCodeAt(start + k)) continue next;
    return w;
  }
  return '';
}

/** Keywords that are values. */
const OPERAND_KEYWORDS = new Set(['True', 'False', 'None']);
/** Keywords that may follow an operand (`x if y else z`, `a not in b`, `raise E from e`). */
const INFIX_KEYWORDS = new Set(['if', 'else', 'for', 'in', 'is', 'and', 'or', 'not', 'as', 'from', 'async']);
const COMPOUND_KEYWORDS = new Set([
  'if',
  'elif',
  'else',
  'try',
  'except',
  'finally',
  'with',
  'for',
  'while',
  'def',
  'class',
  'async',
]);
/** A clause's kind given the kind of the statement before it at the same level (undefined: not Python). */
const CLAUSE_AFTER = new Map<string, (prev: string) => string | undefined>([
  ['elif', (p) => (p === 'if' || p === 'elif' ? 'elif' : undefined)],
  [
    'else',
    (p) =>
      p === 'if' || p === 'elif'
        ? 'else-if'
        : p === 'except'
          ? 'else-try'
          : p === 'for' || p === 'while'
            ? 'else-loop'
            : undefined,
  ],
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
  /** Each token's keyword ('' for other names and for non-names). */
  private kw: string[] = [];
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
    // Tree-sitter stops reading at a NUL, even inside a string.
    if (text.indexOf('\0') >= 0) fail('NUL character');
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
      this.lineIndent = col;
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
    for (let k = this.i; k < stop; k++)
      if (this.text.charCodeAt(k) === CH_CR && k + 1 !== stop) fail('carriage return in comment');
    this.i = stop;
  }

  // ---- tokens ----

  private push(kind: number, start: number, end: number, depth: number): void {
    const kw = kind === NAME ? keywordIn(this.text, start, end) : '';
    if (this.count > 0) {
      if (kind !== OP) this.checkAdjacent(kind, kw);
      if ((kind !== NAME || (kw !== '' && RESERVED.has(kw))) && this.isAttributeDot(this.count - 1))
        fail('dot without a name after it');
      this.checkOperands(kind, start, end, kw);
    } else if (
      kind === OP &&
      (isBinaryOnly(this.text, start, end) || (end - start === 1 && this.text.charCodeAt(start) === 46))
    )
      fail('operator at the start of a line');
    const k = this.count++;
    this.kind[k] = kind;
    this.start[k] = start;
    this.end[k] = end;
    this.depth[k] = depth;
    this.kw[k] = kw;
  }

  /**
   * Cheap checks that an operator or keyword has its operands, for the commonest ways half-typed
   * code goes wrong (`x = = 1`, `f(a=)`, `(1,,2)`, `x->y`, `@if`): tree-sitter reports those as
   * errors, and the scanner summarises only files it would parse cleanly. Not a grammar: what it
   * misses is listed in the file's header.
   */
  private checkOperands(kind: number, start: number, end: number, word: string): void {
    const { text } = this;
    const p = this.count - 1;
    const pNeeds = this.needsOperand(p);
    // After an operand, `not` is only ever `not in`.
    if (this.kw[p] === 'not' && p > 0 && this.endsOperand(p - 1) && word !== 'in')
      fail('not after an operand without in');
    if (kind === OP) {
      const c = text.charCodeAt(start);
      const single = end - start === 1;
      const adjacent = start === this.end[p];
      if (single && c === 44 && this.kind[p] === OP && this.end[p]! - this.start[p]! === 1) {
        const pc = text.charCodeAt(this.start[p]!);
        if (pc === 44 || pc === 40 || pc === 91 || pc === 123) fail('comma without an operand before it');
      }
      if (pNeeds && single && (c === 44 || c === 59 || c === 41 || c === 93 || c === 125))
        fail('operator without an operand after it');
      if (isBinaryOnly(text, start, end) && this.kind[p] === OP && this.end[p]! - this.start[p]! === 1) {
        // `(=`, `[<`, `, %`; but `x, = pair` unpacks and `def f(a, /)` marks positional parameters.
        const pc = text.charCodeAt(this.start[p]!);
        if (pc === 40 || pc === 91 || pc === 123 || (pc === 44 && c !== 47 && (c !== 61 || this.depth[p]! > 0)))
          fail('operator without an operand before it');
      }
      // `x = .y`, `-> :`
      if (single && c === 46 && this.kind[p] === OP && !this.isCloser(p) && !this.wordBefore('from'))
        fail('dot after an operator');
      if (pNeeds && single && c === 58 && this.kind[p] === OP) fail('operator without an operand after it');
      if (pNeeds && isBinaryOnly(text, start, end)) {
        const pc = text.charCodeAt(this.start[p]!);
        const compound =
          this.kind[p] === OP &&
          adjacent &&
          single &&
          (c === 61 || (c === pc && (c === 60 || c === 62)) || (pc === 45 && c === 62));
        if (!compound) fail('two operators in a row');
      }
      if (single && c === 62 && adjacent && this.op(p) === 45) this.arrow = true;
      // `return = 1`, `not.x`: a keyword is neither assigned to nor an object.
      const pw = this.kw[p]!;
      if (
        single &&
        pw !== '' &&
        RESERVED.has(pw) &&
        !OPERAND_KEYWORDS.has(pw) &&
        ((c === 61 && pw !== 'async' && pw !== 'await' && text.charCodeAt(end) !== 61) || (c === 46 && pw !== 'from'))
      )
        fail(`${pw} followed by ${text[start]}`);
      if (pw === 'global' || pw === 'nonlocal') fail(`${pw} without a name`);
    } else if (word) {
      // (`for a, b, in pairs` is Python.)
      if (
        BINARY_KEYWORDS.has(word) &&
        this.kind[p] === OP &&
        !this.isCloser(p) &&
        this.op(p) !== 1046 &&
        !(word === 'in' && this.op(p) === 44)
      )
        fail(`${word} after an operator`);
      if (STATEMENT_KEYWORDS.has(word) && this.op(p) !== 59 && this.op(p) !== 58 && this.kw[p] !== 'async')
        fail(`${word} inside a statement`);
    }
  }

  /** Whether token k is an operator or keyword that cannot end an expression. */
  private needsOperand(k: number): boolean {
    if (this.kind[k] === NAME) return this.kw[k] !== '' && NEEDS_OPERAND_KEYWORDS.has(this.kw[k]!);
    if (this.kind[k] !== OP) return false;
    const c = this.text.charCodeAt(this.start[k]!);
    if (this.end[k]! - this.start[k]! === 2) return c === 58 || c === 33; // := !=
    return (
      this.end[k]! - this.start[k]! === 1 &&
      (c === 61 ||
        c === 43 ||
        c === 45 ||
        c === 126 ||
        c === 37 ||
        c === 38 ||
        c === 124 ||
        c === 94 ||
        c === 60 ||
        c === 62 ||
        c === 64)
    );
  }

  /** Whether token k can end an operand (a name, literal, closing bracket or `...`). */
  private endsOperand(k: number): boolean {
    const kind = this.kind[k];
    if (kind === NAME) return !RESERVED.has(this.kw[k]!) || OPERAND_KEYWORDS.has(this.kw[k]!);
    if (kind === OP) return this.isCloser(k) || this.op(k) === 1046;
    return true;
  }

  private isCloser(k: number): boolean {
    const c = this.text.charCodeAt(this.start[k]!);
    return c === 41 || c === 93 || c === 125;
  }

  /** The column the current logical line starts at. */
  private lineIndent = 0;

  /** Set when the line holds `->`, which only a definition's header may. */
  private arrow = false;

  /** A lone `.` outside a relative import must be followed by an attribute name. */
  private isAttributeDot(k: number): boolean {
    return (
      this.kind[k] === OP &&
      this.end[k]! - this.start[k]! === 1 &&
      this.text.charCodeAt(this.start[k]!) === 46 &&
      !this.wordBefore('from')
    );
  }

  /** Set when the line assigns a starred value: `x = *a, b` is a tuple, `x = *a` is not Python. */
  private starredValue = false;

  /** Whether the logical line so far holds the keyword: `raise` lets `from` follow an operand, `from` lets `import` and relative dots. */
  private wordBefore(keyword: string): boolean {
    for (let k = this.count - 1; k >= 0; k--) if (this.kw[k] === keyword) return true;
    return false;
  }

  /**
   * Two operands in a row (`print x`, `lazy import m`, `21 'banana'`) are not Python 3; Python 2
   * statements and half-typed code are where tree-sitter reports errors.
   */
  private checkAdjacent(kind: number, word: string): void {
    const p = this.count - 1;
    const pk = this.kind[p];
    const closer =
      pk === OP &&
      (this.text.charCodeAt(this.start[p]!) === 41 ||
        this.text.charCodeAt(this.start[p]!) === 93 ||
        this.text.charCodeAt(this.start[p]!) === 125);
    if (pk === OP && !closer) return;
    if (kind === STRING && pk === STRING) return;
    if (kind === NAME) {
      if (KEYWORDS.has(word)) {
        const pw = this.kw[p]!;
        if (
          (INFIX_KEYWORDS.has(word) && (word !== 'from' || this.wordBefore('raise'))) ||
          (word === 'import' && this.wordBefore('from')) ||
          (pk === NAME && !OPERAND_KEYWORDS.has(pw) && KEYWORDS.has(pw))
        )
          return;
        fail(`${word} after an operand`);
      }
    }
    if (KEYWORDS.has(this.kw[p]!) && !OPERAND_KEYWORDS.has(this.kw[p]!)) return;
    fail('two operands in a row');
  }

  /** Tokenises one logical line (through its newline outside brackets) and returns the line it ends on. */
  private readLogicalLine(): number {
    const { text, n } = this;
    this.count = 0;
    this.starredValue = false;
    this.arrow = false;
    const brackets: number[] = [];
    const openAt: number[] = [];
    for (;;) {
      if (this.i >= n) {
        if (brackets.length) fail('unclosed bracket at end of file');
        if (this.count && this.isAttributeDot(this.count - 1)) fail('dot without a name after it');
        if (this.count && this.needsOperand(this.count - 1)) fail('line ends without an operand');
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
          if (this.count && this.needsOperand(this.count - 1)) fail('line ends without an operand');
          this.i += c === CH_CR ? 2 : 1;
          return this.line++;
        }
        this.i += c === CH_CR ? 2 : 1;
        this.line++;
        // Tree-sitter reads `(1 +` then a line indented less than the statement as an error (and
        // after most other tokens, in nested blocks): such lines are rare enough to give up on.
        let j = this.i;
        let col = 0;
        for (let d = text.charCodeAt(j); d === CH_SP || d === CH_TAB; d = text.charCodeAt(++j))
          col += d === CH_TAB ? 8 : 1;
        const d = text.charCodeAt(j);
        if (col < this.lineIndent && j < n && d !== CH_NL && d !== CH_CR && d !== CH_HASH)
          fail('line inside brackets indented less than its statement');
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
      if (c >= SHARED_UNICODE_END) fail('character beyond the Unicode tree-sitter and Node agree on');
      if (
        (c >= 97 && c <= 122) ||
        (c >= 65 && c <= 90) ||
        c === 95 ||
        (c >= 128 && ID_START.test(String.fromCharCode(c)))
      ) {
        const s = this.i;
        let k = s + 1;
        for (;;) {
          const d = text.charCodeAt(k);
          if ((d >= 97 && d <= 122) || (d >= 65 && d <= 90) || d === 95 || (d >= 48 && d <= 57)) k++;
          else if (d >= 128 && d < SHARED_UNICODE_END && ID_CONTINUE.test(String.fromCharCode(d))) k++;
          else if (d >= SHARED_UNICODE_END) fail('character beyond the Unicode tree-sitter and Node agree on');
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
          if (o + 1 < this.count && this.kind[o + 1] === OP && text.charCodeAt(this.start[o + 1]!) === 42)
            fail('unpacking in a comprehension');
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
          if (
            this.count === 1 &&
            text.charCodeAt(this.i + 1) !== 61 &&
            this.kind[0] === NAME &&
            OPERAND_KEYWORDS.has(this.word(0))
          )
            fail('assignment to a constant');
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
        if (
          (d === 101 || d === 69) &&
          !/^0[xX]/.test(text.slice(s, k)) &&
          (text.charCodeAt(k) === 43 || text.charCodeAt(k) === 45)
        )
          k++;
      } else break;
    }
    const num = text.slice(s, k);
    // Python 2 octals and long suffixes, and anything that is not a plain Python 3 literal.
    const plain =
      /^(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?[jJ]?)$/;
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
        if (c === q && (!triple || (text.charCodeAt(this.i + 1) === q && text.charCodeAt(this.i + 2) === q)))
          fail('quote of the enclosing f-string inside a field');
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

  /** The keyword (or `print`/`exec`) at token k, the words statements are told by, else ''. */
  private keywordAt(k: number): string {
    return k < this.count ? this.kw[k]! : '';
  }

  private word(k: number): string {
    return k < this.count && this.kind[k] === NAME ? this.text.slice(this.start[k], this.end[k]) : '';
  }

  private op(k: number): number {
    return k < this.count && this.kind[k] === OP
      ? this.text.charCodeAt(this.start[k]!) + (this.end[k]! - this.start[k]! > 1 ? 1000 : 0)
      : -1;
  }

  /** The first `:` outside brackets from token `from`, or -1. */
  private headerColon(from: number): number {
    for (let k = from; k < this.count; k++) {
      if (this.depth[k] !== 0) continue;
      if (this.kind[k] === OP && this.op(k) === 58) return k;
      if (this.kw[k] === 'lambda') fail('lambda in a block header');
    }
    return -1;
  }

  private closeFrame(): void {
    const frame = this.frames.pop()!;
    this.checkTry(frame);
    while (this.commentTaken < this.comments && this.commentCols[this.commentTaken]! >= frame.indent)
      this.commentTaken++;
    if (frame.owner)
      frame.owner.endLine = this.commentTaken > 0 ? this.commentLines[this.commentTaken - 1]! : this.lastCodeEnd;
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
      // A decorator: the definition it decorates starts here. (One starting with a keyword is rare and tree-sitter reads most of them as errors.)
      if (RESERVED.has(this.keywordAt(1))) fail('decorator starting with a keyword');
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
    if (this.arrow && keyword !== 'def') fail('-> outside a definition');

    if (keyword === 'def' || keyword === 'class') {
      const name = this.word(head + 1);
      if (!name || RESERVED.has(name)) fail('definition without a name');
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
      this.body(colon, {
        headerIndent: indent,
        collect: frame.collect,
        scope: [...frame.scope, name],
        inClass: isClass,
        owner: symbol,
      });
      return;
    }

    let clause: string | undefined;
    if (keyword === 'if' || keyword === 'try' || keyword === 'with' || keyword === 'for' || keyword === 'while')
      clause = keyword;
    else if (CLAUSE_AFTER.has(keyword)) {
      clause = CLAUSE_AFTER.get(keyword)!(frame.prev);
      if (!clause) fail(`${keyword} without its statement`);
      if (keyword === 'except' && this.op(1) === 42) fail('except*');
      if (keyword === 'except')
        for (let k = 1; k < this.count && this.op(k) !== 58; k++)
          if (this.depth[k] === 0 && this.op(k) === 44) fail('except with a comma');
    } else if (
      (w0 === 'match' || w0 === 'case') &&
      this.op(this.count - 1) === 58 &&
      this.depth[this.count - 1] === 0 &&
      this.count > 2
    ) {
      clause = w0;
    }
    if (clause) {
      const colon = this.headerColon(head + 1);
      if (colon < 0) fail('block header without a colon');
      if (
        colon === head + 1 &&
        clause !== 'try' &&
        clause !== 'except' &&
        !clause.startsWith('else') &&
        clause !== 'finally'
      )
        fail('block header without its expression');
      if (clause === 'for' && !this.hasWord('in', head + 2, colon)) fail('for without in');
      if (clause === 'if' || clause === 'elif' || clause === 'while') this.checkConditionals(head + 1, colon);
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
    if (BINARY_KEYWORDS.has(w)) fail(`statement starting with ${w}`);
    if ((w === 'pass' || w === 'break' || w === 'continue') && to > from + 1) fail(`${w} with an operand`);
    if (this.kind[from] === OP && isBinaryOnly(this.text, this.start[from]!, this.end[from]!))
      fail('statement starting with an operator');
    this.checkConditionals(from, to);
    if (this.starredValue) {
      let comma = false;
      for (let k = from; k < to; k++) if (this.depth[k] === 0 && this.op(k) === 44) comma = true;
      if (!comma) fail('starred assignment value');
    }
    if (w === 'import') this.readImport(from + 1, to, collect);
    else if (w === 'from') this.readFromImport(from + 1, to, collect);
    else if (w === 'print' || w === 'exec') {
      if (from + 1 < to && this.op(from + 1) !== 40) fail(`${w} statement`);
    } else if (COMPOUND_KEYWORDS.has(w) || w === 'elif' || w === 'else' || w === 'except' || w === 'finally')
      fail(`${w} after a semicolon or colon`);
    else if (w === 'raise') {
      for (let k = from + 1; k < to; k++) if (this.depth[k] === 0 && this.op(k) === 44) fail('raise with a comma');
    }
    if (this.depth[to - 1] === 0 && this.op(to - 1) === 58) fail('simple statement ending in a colon');
  }

  /** Whether a name token between `from` and `to` (outside brackets) is the keyword. */
  private hasWord(keyword: string, from: number, to: number): boolean {
    for (let k = from; k < to; k++) if (this.depth[k] === 0 && this.keywordAt(k) === keyword) return true;
    return false;
  }

  /** Outside brackets every `x if c` needs its `else y` (comprehensions, whose `if` stands alone, are inside brackets). */
  private checkConditionals(from: number, to: number): void {
    let open = 0;
    const d = 0;
    for (let k = from; k < to; k++) {
      if (this.depth[k] !== d || this.kind[k] !== NAME) continue;
      const w = this.keywordAt(k);
      if (w === 'if') open++;
      else if (w === 'else' && --open < 0) fail('else without if');
    }
    if (open) fail('if without else');
  }

  /** A name in an import, which tree-sitter reads only when it is not a keyword. */
  private importName(k: number, to: number): string {
    if (k >= to || this.kind[k] !== NAME) fail('import without a name');
    const name = this.word(k);
    if (RESERVED.has(name)) fail('keyword as an import name');
    return name;
  }

  /** `a.b.c` from token k; returns the text and the token after it. */
  private dotted(k: number, to: number): [string, number] {
    let name = this.importName(k, to);
    k++;
    while (k + 1 < to && this.op(k) === 46 && this.kind[k + 1] === NAME) {
      name += `.${this.importName(k + 1, to)}`;
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
        this.importName(k + 1, to);
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
          this.importName(k + 1, end);
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

/** An operator that only joins two operands (`=`, `%`, `<`, ...), so cannot start an expression. */
function isBinaryOnly(text: string, start: number, end: number): boolean {
  const c = text.charCodeAt(start);
  if (end - start === 2) return c === 58 || c === 33; // := !=
  return (
    end - start === 1 &&
    (c === 61 || c === 37 || c === 38 || c === 124 || c === 94 || c === 47 || c === 60 || c === 62 || c === 44)
  );
}
