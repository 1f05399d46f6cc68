import { describe, expect, it } from 'vitest';
import { type FileSummary, summarisePython, summarisePythonTree } from '../../../localisation/python-parse.js';
import { scanPython } from '../../../localisation/python-scan.js';

/** The scanner's summary, failing the test when it gives up. */
function scanned(text: string): FileSummary {
  const result = scanPython('m.py', text);
  if ('unsure' in result) throw new Error(`scanner unsure: ${result.unsure} (line ${result.line})`);
  return result.summary;
}

/** Scans and checks the summary is tree-sitter's, field for field. */
function same(text: string): FileSummary {
  const s = scanned(text);
  expect(s).toEqual(summarisePythonTree('m.py', text));
  return s;
}

const lines = (s: FileSummary) => s.symbols.map((x) => [x.qualname, x.kind, x.startLine, x.endLine]);

describe('scanPython reads what tree-sitter reads', () => {
  it('nested classes and functions with their qualnames, kinds and docstrings', () => {
    const s = same(
      [
        '"""Module doc."""',
        'class Outer(Base, metaclass=Meta):',
        "    '''Outer doc.'''",
        '    class Inner:',
        '        def method(self):',
        '            def helper():',
        '                pass',
        '            return helper',
        '    async def fetch(self): ...',
        'def top():',
        '    r"""Raw doc \\n kept."""',
        '    class Local:',
        '        def m(self): pass',
      ].join('\n'),
    );
    expect(s.docstring).toBe('Module doc.');
    expect(lines(s)).toEqual([
      ['Outer', 'class', 2, 9],
      ['Outer.Inner', 'class', 4, 8],
      ['Outer.Inner.method', 'method', 5, 8],
      ['Outer.Inner.method.helper', 'function', 6, 7],
      ['Outer.fetch', 'method', 9, 9],
      ['top', 'function', 10, 13],
      ['top.Local', 'class', 12, 13],
      ['top.Local.m', 'method', 13, 13],
    ]);
    expect(s.symbols[0]!.docstring).toBe('Outer doc.');
    expect(s.symbols[5]!.docstring).toBe('Raw doc \\n kept.');
  });

  it('a decorated definition starts at its first decorator', () => {
    const s = same(
      '@a.b(\n    x=1,\n)\n# between\n@c\nasync def f():\n    pass\n\n@dataclass\nclass D:\n    x: int = 0\n',
    );
    expect(lines(s)).toEqual([
      ['f', 'function', 1, 7],
      ['D', 'class', 9, 11],
    ]);
  });

  it('ends a block at its last statement or the trailing comments indented at least as deep', () => {
    const text = [
      'class A:',
      '    def m(self):',
      '        return 1',
      '        # still m',
      '',
      '    # class level',
      '  # shallower than the class body',
      '    # after the shallow one: module level',
      '',
      'def g(): pass',
      '    # not in g',
      'def h():',
      '    x = [',
      '        1,',
      '    ]',
      '',
      '# module comment',
      '',
    ].join('\n');
    expect(lines(same(text))).toEqual([
      ['A', 'class', 1, 6],
      ['A.m', 'method', 2, 4],
      ['g', 'function', 10, 10],
      ['h', 'function', 12, 15],
    ]);
  });

  it('ends at end of file, with or without a final newline', () => {
    expect(lines(same('def f():\n    x = 1\n    # tail'))).toEqual([['f', 'function', 1, 3]]);
    expect(lines(same('def f():\n    return """a\nb"""'))).toEqual([['f', 'function', 1, 3]]);
  });

  it('ignores definitions and keywords inside strings, comments and brackets', () => {
    const s = same(
      [
        'TEXT = """',
        'def not_a_function():',
        "    import nothing  # '''",
        '"""',
        "b = b'def x(): pass'  # def y(): pass",
        'f = f"{\'def\'} {x!r:>{width}} {{def}}"',
        'call(a,',
        '     # def in a comment',
        '     b) ; import real',
        'x = 1 + \\',
        '    2',
        'def after(): pass',
      ].join('\n'),
    );
    expect(s.symbols.map((x) => x.name)).toEqual(['after']);
    expect(s.imports).toEqual([{ module: 'real', level: 0, names: [] }]);
  });

  it('reads every import form', () => {
    const s = same(
      [
        'from __future__ import annotations',
        'import os, a.b as c, d . e',
        'from . import y',
        'from .. x . y import (a,',
        '    b as bb,  # comment',
        '    c,',
        ')',
        'from ...pkg import *',
        'from .mod import one as uno, two',
        'import json; from x import z',
      ].join('\n'),
    );
    expect(s.imports).toEqual([
      { module: 'os', level: 0, names: [] },
      { module: 'a.b', level: 0, names: [] },
      { module: 'd.e', level: 0, names: [] },
      { module: '', level: 1, names: ['y'] },
      { module: 'x.y', level: 2, names: ['a', 'b', 'c'] },
      { module: 'pkg', level: 3, names: [] },
      { module: 'mod', level: 1, names: ['one', 'two'] },
      { module: 'json', level: 0, names: [] },
      { module: 'x', level: 0, names: ['z'] },
    ]);
  });

  it('reads imports and definitions in if/try/with blocks but not in loops or match', () => {
    const s = same(
      [
        'try:',
        '    import fast',
        'except ImportError:',
        '    fast = None',
        'else:',
        '    from fast import speed',
        'finally:',
        '    pass',
        'if TYPE_CHECKING: from typing import Any',
        'elif other:',
        '    def cond(): pass',
        'with ctx() as c:',
        '    import inside_with',
        'for i in range(3):',
        '    import in_loop',
        '    def in_loop_def(): pass',
        'else:',
        '    import loop_else',
        'while x:',
        '    import in_while',
        'match command:',
        '    case "go":',
        '        import in_match',
      ].join('\n'),
    );
    expect(s.imports.map((i) => i.module)).toEqual(['fast', 'fast', 'typing', 'inside_with']);
    expect(s.symbols.map((x) => x.qualname)).toEqual(['cond']);
  });

  it('takes only a lone first string as a docstring', () => {
    const s = same(
      [
        'x = 1',
        'class A:',
        '    # comment first',
        '    """Doc of A."""',
        'class B:',
        '    "con" "cat"',
        'class C:',
        '    "call".strip()',
        'class D:',
        '    """   """',
        "class E: 'inline'; y = 2",
        'def f():',
        '    u"""Unicode',
        '    doc."""',
      ].join('\n'),
    );
    expect(s.docstring).toBeUndefined();
    expect(s.symbols.map((x) => [x.name, x.docstring])).toEqual([
      ['A', 'Doc of A.'],
      ['B', undefined],
      ['C', undefined],
      ['D', undefined],
      ['E', 'inline'],
      ['f', 'Unicode\n    doc.'],
    ]);
  });

  it('reads keywords only where tree-sitter reads them as names, and operators in all their valid forms', () => {
    const s = same(
      [
        'def match(): pass',
        'class case: pass',
        'def type(): pass',
        'def print(): pass',
        'f(async=True, print=1)',
        'x = a if b else c; y = [v for v in w if v]; z = ... if q else None',
        'def g(a, /, b, *, c=-1, **k) -> int:',
        '    global a1, b1',
        '    x == 1; a <<= 2; a >>= 1; a //= 2; a **= 2; a @= b; a != b; a <= b >= c',
        '    del x,',
        '    x = yield',
        '    yield from x',
        '    raise X from e',
        '    return x is not None and a not in b or not c',
        'h = lambda *a, **k: 0',
        '@property',
        'def p(self): return self[::2], self[1:-1]',
        'café = 1; Ωmega = 2',
        'from . import x',
        'from ... import y',
        'if True.real: pass',
      ].join('\n'),
    );
    expect(s.symbols.map((x) => x.name)).toEqual(['match', 'case', 'type', 'print', 'g', 'p']);
  });

  it('handles tab indentation, CRLF line ends and walrus headers', () => {
    same('class T:\n\tdef m(self):\n\t\tif (n := 1):\n\t\t\treturn n\n');
    same('def f():\r\n    """Doc."""\r\n    return 1\r\n\r\nimport os\r\n');
    same('while chunk := read():\n    pass\ndef g(x: int = 1, *a, **k) -> dict[str, int]:\n    return {}\n');
  });
});

describe('scanPython knows when it is unsure', () => {
  const unsure = (text: string) => 'unsure' in scanPython('m.py', text);
  it.each([
    ['a Python 2 print statement', 'print "hello"\n'],
    ['a Python 2 except clause', 'try:\n    pass\nexcept ValueError, e:\n    pass\n'],
    ['a backtick', 'x = `y`\n'],
    ['an old octal literal', 'mode = 0755\n'],
    ['tabs and spaces both indenting', 'def f():\n\tx = 1\n\ndef g():\n    y = 2\n'],
    ['an unterminated string', 'x = "abc\n'],
    ['an unterminated triple-quoted string', 'x = """abc\n'],
    ['an unclosed bracket', 'x = foo(1,\n'],
    ['a dedent to no enclosing level', 'def f():\n        x = 1\n    y = 2\n'],
    ['an unexpected indent', 'x = 1\n    y = 2\n'],
    ['a header without a body', 'def f():\n'],
    ['a broken definition', 'def ok():\n    pass\n\ndef broken(:\n'],
    ['two operands in a row', 'lazy import os\n'],
    ['a missing comma', "d = {\n    'a': 1\n    'b': 2\n}\n"],
    ['a decorator with nothing to decorate', '@dec\nx = 1\n'],
    ['try without except', 'try:\n    pass\nx = 1\n'],
    ['a form feed', 'x = 1\n\f\ny = 2\n'],
    ['an assignment to True', 'True = 1\nif x == None: pass\n'],
    ['a Python 2 raise', 'raise ValueError, "no"\n'],
    ['a lazy import (Python 3.15)', 'lazy from os import path\n'],
    // Keywords where tree-sitter reads no name: it drops the definition or import, or reads another.
    ['a method named async', 'class A:\n    def async(self):\n        pass\n    def b(self): pass\n'],
    ['a function named await', 'def await(): pass\n'],
    ['a function named None', 'def None(): pass\n'],
    ['a class named True', 'class True: pass\ndef g(): pass\n'],
    ['a function named for', 'def for(): pass\n'],
    ['a class named def', 'class def: pass\n'],
    ['a function named lambda', 'def lambda(): pass\n'],
    ['an async function named class', 'async def class(): pass\n'],
    ['import of a keyword', 'import class\ndef g(): pass\n'],
    ['a keyword in a dotted import', 'import a.if\n'],
    ['from a keyword', 'from if import x\n'],
    ['from a dotted keyword', 'from a.with import x\n'],
    ['import of a keyword from a module', 'from a import if\n'],
    ['an alias that is a keyword', 'import a as if\nfrom b import c as for\n'],
    ['a decorator that is a keyword', '@if\ndef f(): pass\n'],
    ['a decorator that is a statement keyword', '@return\ndef f(): pass\n'],
    // Identifier characters tree-sitter does not read as Python does.
    ['a name starting with a character that is not XID_Start', 'def \uff9ef(): pass\ndef g(): pass\n'],
    [
      'a name holding a character beyond the Unicode both agree on',
      'class A:\n    def f\uff9e(self): pass\n    def g(self): pass\n',
    ],
    ['a Chinese name', '\u53d8\u91cf = 1\ndef g(): pass\n'],
    ['an Other_ID_Start character', '\u2118 = 1\n'],
    // Invalid code tree-sitter reports errors in.
    ['a doubled equals sign', 'x = = 1\ndef f(): pass\n'],
    ['pass with an operand', 'pass 1\n'],
    ['break with an operand', 'break x\n'],
    ['continue with an operand', 'while x:\n    continue 1\n'],
    ['an arrow outside a definition', 'x->y\n'],
    ['a keyword argument without a value', 'f(a=)\ndef g(): pass\n'],
    ['two commas in a row', 'x = (1,,2)\ndef f(): pass\n'],
    ['a comma after an opening bracket', 'x = [, 1]\n'],
    ['a conditional expression without else', 'x = a if b\n'],
    ['an if header without a condition', 'if :\n    import os\n'],
    ['a for header without in', 'for x:\n    pass\n'],
    ['an attribute that is a keyword', 'x.True = 1\n'],
    ['an attribute named async', 'x.async = 1\ndef f(): pass\n'],
    ['a NUL in a string', 'x = "\0"\n'],
    [
      'a line ending in an operator',
      'class A:\n    def f(self):\n        return x +\n    def g(self):\n        pass\n',
    ],
    ['a statement starting with in', 'in\n'],
    ['not without an operand', 'not\n'],
    ['del without a target', 'del\n'],
    ['global without a name', 'global\n'],
    ['an assignment to return', 'return = 1\n'],
    ['a statement keyword inside an expression', 'f(a=pass)\n'],
    ['an operator at a line start', '= 1\n'],
    ['a binary keyword after an operator', 'x = and y\n'],
    ['a default without a parameter name', 'def update(mapping, path, value, ="/"):\n    pass\ndef g(): pass\n'],
    ['a dot after an operator', 'x = .load()\n'],
    ['an arrow without an annotation', 'class A:\n    def f(self) -> :\n        pass\n'],
    ['not after an operand without in', 'assert x not None\n'],
    // Valid Python tree-sitter misreads: it ends f at line 3 and loses h.
    [
      'a line inside brackets indented less than its statement',
      'def f():\n    if x:\n        a = g("a" %\n(1))\n    return a\ndef h(): pass\n',
    ],
  ])('%s', (_what, text) => {
    expect(unsure(text)).toBe(true);
    // What indexing reads then is tree-sitter's summary.
    expect(summarisePython('m.py', text)).toEqual(summarisePythonTree('m.py', text));
  });

  it('summarises some invalid files itself, reporting no errors (the summary is what tree-sitter reads but for hasErrors)', () => {
    // Not a grammar: an assignment to a call is not Python, but nothing the summary holds depends on it.
    for (const text of ['f() = 1\ndef g(): pass\n', 'x = {: 1}\n', 'with a as:\n    import os\n']) {
      const tree = summarisePythonTree('m.py', text);
      expect(tree.hasErrors).toBe(true);
      expect(scanned(text)).toEqual({ ...tree, hasErrors: false });
    }
  });

  it('falls back to tree-sitter for a file with syntax errors, which tree-sitter reports', () => {
    const s = summarisePython('x.py', 'def ok():\n    pass\n\ndef broken(:\n');
    expect(s.hasErrors).toBe(true);
    expect(s.symbols.map((x) => x.name)).toContain('ok');
  });
});
