import { createRequire } from 'node:module';
import type Parser from 'tree-sitter';
import { scanPython } from './python-scan.js';

const require = createRequire(import.meta.url);

/** A class or function defined in a file. */
export interface PySymbol {
  kind: 'class' | 'function' | 'method';
  name: string;
  /** Dotted within the module: `Session.request`. */
  qualname: string;
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  docstring?: string;
}

/** One import statement: `import a.b` is {module: 'a.b', level: 0}; `from ..x import y` is {module: 'x', level: 2, names: ['y']}. */
export interface PyImport {
  module: string;
  level: number;
  names: string[];
}

/** What retrieval and the agent's prompt need to know about a Python file. */
export interface FileSummary {
  path: string;
  docstring?: string;
  symbols: PySymbol[];
  imports: PyImport[];
  /**
   * Set when tree-sitter found syntax errors (the summary is then best effort). Always false when
   * the hand-written scanner read the file (`summarisePython`): it reads only files it takes for
   * valid, and though it gives up on the common syntax errors, some invalid files pass it.
   */
  hasErrors: boolean;
}

let parser: Parser | undefined;

function getParser(): Parser {
  if (!parser) {
    const TreeSitter = require('tree-sitter') as typeof Parser;
    const python = require('tree-sitter-python') as Parser.Language;
    parser = new TreeSitter();
    parser.setLanguage(python);
  }
  return parser;
}

function stringValue(node: Parser.SyntaxNode): string {
  const content = node.namedChildren.filter((c) => c.type === 'string_content').map((c) => c.text);
  return (content.length ? content.join('') : node.text.replace(/^[rbuf]*("""|'''|"|')|("""|'''|"|')$/gi, '')).trim();
}

/** The docstring of a module, class or function body, if its first statement is a string. */
function docstringOf(body: Parser.SyntaxNode | null): string | undefined {
  const first = body?.namedChildren.find((c) => c.type !== 'comment');
  if (first?.type !== 'expression_statement') return undefined;
  const str = first.namedChildren[0];
  return str?.type === 'string' ? stringValue(str).slice(0, 2000) : undefined;
}

function dottedText(node: Parser.SyntaxNode | null): string {
  return node ? node.text.replace(/\s+/g, '') : '';
}

function readImport(node: Parser.SyntaxNode): PyImport[] {
  if (node.type === 'import_statement') {
    return node.namedChildren
      .map((c) => (c.type === 'aliased_import' ? c.childForFieldName('name') : c))
      .filter((c): c is Parser.SyntaxNode => c !== null && c.type === 'dotted_name')
      .map((c) => ({ module: dottedText(c), level: 0, names: [] }));
  }
  // import_from_statement
  const moduleNode = node.childForFieldName('module_name');
  let level = 0;
  let module: string;
  if (moduleNode?.type === 'relative_import') {
    const prefix = moduleNode.namedChildren.find((c) => c.type === 'import_prefix');
    level = prefix ? prefix.text.length : 0;
    module = dottedText(moduleNode.namedChildren.find((c) => c.type === 'dotted_name') ?? null);
  } else {
    module = dottedText(moduleNode);
  }
  const names = node
    .childrenForFieldName('name')
    .map((c) => (c.type === 'aliased_import' ? c.childForFieldName('name') : c))
    .filter((c): c is Parser.SyntaxNode => c !== null)
    .map((c) => dottedText(c));
  return [{ module, level, names }];
}

/**
 * A Python file's symbols, imports and docstrings. The hand-written scanner reads most files (it
 * gives the same summary as tree-sitter on files tree-sitter parses without errors, several times
 * faster); files it is not sure of, such as most with syntax errors, go to tree-sitter (some
 * invalid files are summarised by the scanner, with `hasErrors` false).
 * `FIXWRIGHT_PYTHON_SCANNER=off` sends every file to tree-sitter.
 */
export function summarisePython(path: string, text: string): FileSummary {
  if (process.env.FIXWRIGHT_PYTHON_SCANNER !== 'off') {
    const scanned = scanPython(path, text);
    if ('summary' in scanned) return scanned.summary;
  }
  return summarisePythonTree(path, text);
}

/**
 * Parses a Python file with tree-sitter into its symbols, imports and docstrings. Tree-sitter
 * recovers from syntax errors, so a broken file still yields what can be read.
 */
export function summarisePythonTree(path: string, text: string): FileSummary {
  const tree = getParser().parse(text, undefined, { bufferSize: Math.max(32 * 1024, text.length * 2 + 1024) });
  const root = tree.rootNode;
  const symbols: PySymbol[] = [];
  const imports: PyImport[] = [];

  const visit = (node: Parser.SyntaxNode, scope: string[], inClass: boolean) => {
    for (const child of node.namedChildren) {
      let target = child;
      if (child.type === 'decorated_definition') target = child.childForFieldName('definition') ?? child;
      if (target.type === 'class_definition' || target.type === 'function_definition') {
        const name = target.childForFieldName('name')?.text ?? '?';
        const body = target.childForFieldName('body');
        const isClass = target.type === 'class_definition';
        const symbol: PySymbol = {
          kind: isClass ? 'class' : inClass ? 'method' : 'function',
          name,
          qualname: [...scope, name].join('.'),
          startLine: child.startPosition.row + 1,
          endLine: child.endPosition.row + 1,
        };
        const doc = docstringOf(body);
        if (doc) symbol.docstring = doc;
        symbols.push(symbol);
        if (body) visit(body, [...scope, name], isClass);
      } else if (child.type === 'import_statement' || child.type === 'import_from_statement') {
        imports.push(...readImport(child));
      } else if (
        [
          'if_statement',
          'try_statement',
          'with_statement',
          'block',
          'else_clause',
          'except_clause',
          'finally_clause',
          'elif_clause',
        ].includes(child.type)
      ) {
        // Conditional imports and definitions (`try: import x except ImportError: ...`).
        visit(child, scope, inClass);
      }
    }
  };
  visit(root, [], false);
  const summary: FileSummary = { path, symbols, imports, hasErrors: root.hasError };
  const doc = docstringOf(root);
  if (doc) summary.docstring = doc;
  return summary;
}

/** Parses Python text into a tree-sitter tree (the one parser setup fixwright shares; quickfix reads scopes from it). */
export function parsePythonTree(text: string): Parser.Tree {
  return getParser().parse(text, undefined, { bufferSize: Math.max(32 * 1024, text.length * 2 + 1024) });
}

/** The 1-based line of the first syntax error in a parsed tree, or undefined when it parsed cleanly. */
export function firstErrorLine(tree: Parser.Tree): number | undefined {
  const root = tree.rootNode;
  if (!root.hasError) return undefined;
  const stack: Parser.SyntaxNode[] = [root];
  let first: number | undefined;
  while (stack.length) {
    const node = stack.pop()!;
    if (node.type === 'ERROR' || node.isMissing) {
      const line = node.startPosition.row + 1;
      first = first === undefined ? line : Math.min(first, line);
      continue;
    }
    if (node.hasError) stack.push(...node.children);
  }
  return first ?? 1;
}

/** The 1-based line of the first syntax error tree-sitter finds, or undefined when the text parses. */
export function firstSyntaxError(text: string): number | undefined {
  return firstErrorLine(parsePythonTree(text));
}
