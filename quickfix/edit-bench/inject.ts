import type Parser from 'tree-sitter';
import { importBindings, isReference, referencesIn, scopeBindings } from '../python/scope.js';
import { joinLines, renameAt, splitLines, treeOf } from '../python/text.js';

/** The bug kinds the benchmark injects (each one pyflakes or the parser reports). */
export const BUG_KINDS = [
  'misspell_name',
  'drop_import',
  'rename_local_def',
  'misspell_keyword',
  'unbalance_bracket',
  'drop_colon',
] as const;
/** One of the injected bug kinds. */
export type BugKind = (typeof BUG_KINDS)[number];

/** One injected bug: the broken code and where it was broken. */
export interface Injection {
  kind: BugKind;
  code: string;
  /** 1-based line of the mutation. */
  line: number;
  description: string;
}

/** A small seeded generator (mulberry32): the same seed injects the same bugs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T | undefined =>
  items.length ? items[Math.floor(random() * items.length)] : undefined;

/** A typo of a word: one letter dropped or two neighbours swapped (never the first letter, never the same word). */
export function typo(word: string, random: Random): string | undefined {
  if (word.length < 3) return undefined;
  for (let tries = 0; tries < 6; tries++) {
    const i = 1 + Math.floor(random() * (word.length - 1));
    const out =
      random() < 0.5 || i === word.length - 1
        ? word.slice(0, i) + word.slice(i + 1)
        : word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2);
    if (out !== word && /^[A-Za-z_]\w*$/.test(out)) return out;
  }
  return undefined;
}

function identifiers(tree: Parser.Tree): Set<string> {
  return new Set(tree.rootNode.descendantsOfType('identifier').map((n) => n.text));
}

function deleteChar(code: string, row: number, column: number, expected: string): string | undefined {
  const lines = splitLines(code);
  const line = lines[row];
  if (line === undefined || line.slice(column, column + expected.length) !== expected) return undefined;
  lines[row] = line.slice(0, column) + line.slice(column + expected.length);
  return joinLines(lines, code);
}

const injectors: Record<BugKind, (code: string, random: Random) => Injection | undefined> = {
  misspell_name(code, random) {
    const tree = treeOf(code);
    const names = identifiers(tree);
    // Uses only: a misspelt definition is rename_local_def's bug.
    const isTarget = (n: Parser.SyntaxNode) => {
      let node = n;
      while (
        node.parent &&
        ['pattern_list', 'tuple_pattern', 'list_pattern', 'list_splat_pattern'].includes(node.parent.type)
      )
        node = node.parent;
      return (
        ['assignment', 'augmented_assignment', 'for_statement', 'for_in_clause'].includes(node.parent?.type ?? '') &&
        node.parent!.childForFieldName('left')?.id === node.id
      );
    };
    const sites = tree.rootNode
      .descendantsOfType('identifier')
      .filter(
        (n) =>
          n.text.length >= 4 &&
          isReference(n) &&
          !isTarget(n) &&
          n.parent?.type !== 'global_statement' &&
          !/^__\w+__$/.test(n.text),
      );
    const site = pick(random, sites);
    const wrong = site && typo(site.text, random);
    if (!site || !wrong || names.has(wrong)) return undefined;
    const broken = renameAt(
      code,
      [{ row: site.startPosition.row, column: site.startPosition.column }],
      site.text,
      wrong,
    );
    return broken
      ? {
          kind: 'misspell_name',
          code: broken,
          line: site.startPosition.row + 1,
          description: `${site.text} → ${wrong}`,
        }
      : undefined;
  },
  drop_import(code, random) {
    const tree = treeOf(code);
    const sites = tree.rootNode.namedChildren.filter(
      (s) =>
        (s.type === 'import_statement' || s.type === 'import_from_statement') &&
        s.startPosition.row === s.endPosition.row &&
        importBindings(s).length === 1 &&
        !s.text.includes('__future__'),
    );
    const site = pick(random, sites);
    if (!site || referencesIn(tree.rootNode, importBindings(site)[0]!.text).length === 0) return undefined;
    const lines = splitLines(code);
    if (lines[site.startPosition.row]!.trim() !== site.text.trim()) return undefined;
    lines.splice(site.startPosition.row, 1);
    return {
      kind: 'drop_import',
      code: joinLines(lines, code),
      line: site.startPosition.row + 1,
      description: site.text,
    };
  },
  rename_local_def(code, random) {
    const tree = treeOf(code);
    const names = identifiers(tree);
    const functions = tree.rootNode.descendantsOfType('function_definition');
    const fn = pick(random, functions);
    if (!fn) return undefined;
    const bindings = scopeBindings(fn);
    const params = new Set(
      (fn.childForFieldName('parameters')?.descendantsOfType('identifier') ?? []).map((n) => n.text),
    );
    const once = bindings.filter(
      (b) =>
        !params.has(b.name) &&
        bindings.filter((o) => o.name === b.name).length === 1 &&
        b.node.parent?.type === 'assignment' &&
        b.node.parent.childForFieldName('left')?.id === b.node.id,
    );
    const site = pick(random, once);
    if (!site || !referencesIn(fn, site.name).some((r) => r.startPosition.row > site.node.startPosition.row))
      return undefined;
    const wrong = typo(site.name, random);
    if (!wrong || names.has(wrong)) return undefined;
    const broken = renameAt(
      code,
      [{ row: site.node.startPosition.row, column: site.node.startPosition.column }],
      site.name,
      wrong,
    );
    return broken
      ? { kind: 'rename_local_def', code: broken, line: site.line, description: `${site.name} = … → ${wrong} = …` }
      : undefined;
  },
  misspell_keyword(code, random) {
    const lines = splitLines(code);
    const sites = lines
      .map((l, row) => ({
        row,
        m: /^(\s*)(return|import|from|def|class|for|while|if|elif|try|except|with|raise|assert|yield|lambda|not)\b/.exec(
          l,
        ),
      }))
      .filter((s) => s.m);
    const site = pick(random, sites);
    if (!site) return undefined;
    const keyword = site.m![2]!;
    const wrong = typo(keyword, random);
    if (!wrong) return undefined;
    const fixed = [...lines];
    fixed[site.row] = site.m![1] + wrong + lines[site.row]!.slice(site.m![0].length);
    return {
      kind: 'misspell_keyword',
      code: joinLines(fixed, code),
      line: site.row + 1,
      description: `${keyword} → ${wrong}`,
    };
  },
  unbalance_bracket(code, random) {
    const tree = treeOf(code);
    const closers = tree.rootNode
      .descendantsOfType([')', ']', '}'])
      .filter((n) => n.parent?.startPosition.row === n.startPosition.row);
    const site = pick(random, closers);
    const broken = site && deleteChar(code, site.startPosition.row, site.startPosition.column, site.type);
    return broken
      ? {
          kind: 'unbalance_bracket',
          code: broken,
          line: site.startPosition.row + 1,
          description: `dropped '${site.type}'`,
        }
      : undefined;
  },
  drop_colon(code, random) {
    const tree = treeOf(code);
    const headers = tree.rootNode.descendantsOfType([
      'function_definition',
      'class_definition',
      'if_statement',
      'for_statement',
      'while_statement',
      'with_statement',
      'try_statement',
      'elif_clause',
      'else_clause',
      'except_clause',
    ]);
    const colons = headers.flatMap((h) => h.children.filter((c) => c.type === ':'));
    const site = pick(random, colons);
    const broken = site && deleteChar(code, site.startPosition.row, site.startPosition.column, ':');
    return broken
      ? { kind: 'drop_colon', code: broken, line: site.startPosition.row + 1, description: "dropped ':'" }
      : undefined;
  },
};

/** Injects one bug of a kind into clean code; undefined when the file offers no site for it. */
export function injectBug(kind: BugKind, code: string, random: Random): Injection | undefined {
  return injectors[kind](code, random);
}
