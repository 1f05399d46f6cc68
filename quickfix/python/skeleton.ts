import type Parser from 'tree-sitter';
import type { AnalysisFocus } from '../language-adapter.js';
import type { Diagnostic } from '../types.js';
import { importBindings } from './scope.js';
import { indentOf, joinLines, onForgetTrees, splitLines, treeOf } from './text.js';

type Node = Parser.SyntaxNode;
type Range = { start: number; end: number };

/**
 * The file as pyflakes is shown it for a focus. Every definition that does not overlap the focus —
 * and mentions none of the focus's names and declares no `global` — becomes `def name(): pass` (or
 * `class name: pass`) on its first line with blank lines after it, so every line keeps its number
 * and every module-level name stays bound; module-level statements are kept, and so are the
 * definitions overlapping the focus (a class's other methods stubbed the same way). Removing code
 * removes only uses of module names, never a binding, so inside the kept definitions pyflakes
 * reports what it reports on the whole file, at most with an extra "unused" finding; a long
 * module- or class-level constant becomes `NAME = 0` (its binding kept, the uses inside it gone).
 * At module level, "imported but unused" depends on every use of a name: it is kept only for the
 * focus's names (those of the imports on the focus among them), whose every mention is analysed.
 */
export interface SkeletonPlan {
  text: string;
  /** The definitions overlapping the focus, analysed whole (stubs inside them excepted). */
  definitionRanges: readonly Range[];
  /** The focus itself. */
  focus: readonly Range[];
  /** Lines holding a stub (its findings are artefacts). */
  stubRanges: readonly Range[];
  names: ReadonlySet<string>;
  /** The definitions overlapping the focus ("def name" / "class name"), so before and after an edit can be compared. */
  definitions: readonly string[];
  /** Definitions replaced by a stub. */
  stubbed: number;
}

/** A plan, or why the whole file has to be analysed. */
export type SkeletonOutcome = { ok: true; plan: SkeletonPlan } | { ok: false; reason: string };

/** Compound statements whose blocks may hold definitions at module or class level. */
const COMPOUND = new Set([
  'if_statement',
  'elif_clause',
  'else_clause',
  'try_statement',
  'except_clause',
  'except_group_clause',
  'finally_clause',
  'with_statement',
  'for_statement',
  'while_statement',
  'match_statement',
  'case_clause',
]);

/**
 * pyflakes findings that depend on every use of a name in the file (reported once all function
 * bodies were read). A redefinition at module level is reported as the module is read, before any
 * function body, so the skeleton sees it as the whole file does.
 */
const WHOLE_FILE_KINDS = new Set(['UnusedImport']);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const within = (line: number, ranges: readonly Range[]) => ranges.some((r) => line >= r.start && line <= r.end);

/** A test for a mention of any of the names as a whole identifier (not as an attribute). */
function mentionTest(names: ReadonlySet<string>): (text: string) => boolean {
  if (names.size === 0) return () => false;
  const re = new RegExp(`(?<![\\p{L}\\p{N}_.])(?:${[...names].map(escape).join('|')})(?![\\p{L}\\p{N}_])`, 'u');
  return (text) => re.test(text);
}

/** Names bound by module-level imports on the focus's lines: whether they are used is a whole-file question. */
function focusImports(container: Node, focus: readonly Range[], out: string[] = []): string[] {
  for (const child of container.namedChildren) {
    if (!focus.some((r) => child.startPosition.row + 1 <= r.end && child.endPosition.row + 1 >= r.start)) continue;
    if (child.type === 'import_statement' || child.type === 'import_from_statement')
      out.push(...importBindings(child).map((b) => b.text));
    else if (child.type === 'block' || COMPOUND.has(child.type)) focusImports(child, focus, out);
  }
  return out;
}

/** A Python 2 `print x` / `exec code` statement, which CPython refuses and tree-sitter accepts. */
const PYTHON2_STATEMENT = /^[ \t]*(?:print|exec)(?:[ \t]+(?![ \t]*(?:[=.,()[\]}:;+\-*/%&|^<>!]|$))|[ \t]*>>)/m;

/**
 * Plans the skeleton of `code` for a focus, or says why it cannot: a syntax error lies outside the
 * definitions overlapping the focus, or the rest holds Python 2 statements (which CPython refuses
 * and tree-sitter accepts).
 */
export function planSkeleton(code: string, focus: AnalysisFocus): SkeletonOutcome {
  // Verifying a candidate plans the same two texts several times: each is planned (and parsed) once.
  const key = JSON.stringify([
    [...focus.ranges].sort((a, b) => a.start - b.start || a.end - b.end).map((r) => [r.start, r.end]),
    [...new Set(focus.names ?? [])].sort(),
  ]);
  let plans = planned.get(code);
  if (plans) planned.delete(code);
  else plans = new Map();
  planned.set(code, plans);
  if (planned.size > PLANS_KEPT) planned.delete(planned.keys().next().value!);
  const known = plans.get(key);
  if (known) return known;
  const outcome = plan(code, treeOf(code), focus);
  plans.set(key, outcome);
  return outcome;
}

/** Plans of the last few texts, forgotten with the parsed trees (a benchmark measures cold requests). */
const planned = new Map<string, Map<string, SkeletonOutcome>>();
const PLANS_KEPT = 8;
onForgetTrees(() => planned.clear());

function plan(code: string, tree: Parser.Tree, focus: AnalysisFocus): SkeletonOutcome {
  const lines = splitLines(code);
  const ranges = focus.ranges
    .map((r) => ({ start: Math.max(r.start, 1), end: Math.min(r.end, lines.length) }))
    .filter((r) => r.end >= r.start);
  if (ranges.length === 0) return { ok: false, reason: 'the focus is empty' };
  const names = new Set([...(focus.names ?? []), ...focusImports(tree.rootNode, ranges)]);
  const mentions = mentionTest(names);
  const definitionRanges: Range[] = [];
  const definitions: string[] = [];
  const stubs: Array<Range & { text: string }> = [];
  let problem: string | undefined;
  const syntaxError = (row: number) =>
    `a syntax error near line ${row + 1}, outside the definitions around the lines asked about`;

  const visit = (container: Node): void => {
    for (const child of container.namedChildren) {
      if (problem) return;
      const def = child.type === 'decorated_definition' ? child.childForFieldName('definition') : child;
      const start = child.startPosition.row + 1;
      const end = child.endPosition.row + 1;
      if (def && (def.type === 'function_definition' || def.type === 'class_definition')) {
        const isClass = def.type === 'class_definition';
        const name = def.childForFieldName('name')?.text ?? '?';
        if (ranges.some((r) => start <= r.end && end >= r.start)) {
          // Overlapping the focus: analysed as it is. A class's other methods are still stubbed
          // (methods cannot see class-level names, and their own names stay bound by the stubs).
          definitionRanges.push({ start, end });
          definitions.push(`${isClass ? 'class' : 'def'} ${name}`);
          if (isClass) visitBlock(def.childForFieldName('body'));
          continue;
        }
        if (child.hasError) {
          problem = syntaxError(child.startPosition.row);
          return;
        }
        const text = child.text;
        // `global` binds module names from inside a body; a mention of a focus name decides whether it is used: both stay whole.
        if (mentions(text) || (/\bglobal\b/.test(text) && child.descendantsOfType('global_statement').length > 0))
          continue;
        stubs.push({
          start,
          end,
          text: `${indentOf(lines[start - 1]!)}${isClass ? `class ${name}: pass` : `def ${name}(): pass`}`,
        });
        continue;
      }
      if (COMPOUND.has(child.type)) {
        visitCompound(child);
        continue;
      }
      const overlaps = ranges.some((r) => start <= r.end && end >= r.start);
      // A long constant (`MESSAGES = {…}` over 200 lines) keeps its binding and loses only the uses inside it.
      const assignment =
        child.type === 'expression_statement' && child.namedChildCount === 1 ? child.namedChildren[0]! : undefined;
      const left = assignment?.type === 'assignment' ? assignment.childForFieldName('left') : null;
      const right = assignment?.type === 'assignment' ? assignment.childForFieldName('right') : null;
      if (
        left?.type === 'identifier' &&
        left.text !== '__all__' &&
        right &&
        right.type !== 'assignment' &&
        !assignment!.childForFieldName('type') &&
        end > start &&
        !overlaps &&
        !child.hasError
      ) {
        const text = child.text;
        if (!text.includes(':=') && !mentions(text)) {
          stubs.push({ start, end, text: `${indentOf(lines[start - 1]!)}${left.text} = 0` });
          continue;
        }
      }
      // A syntax error on the focus's own lines is the one pyflakes reports; anywhere else it would be hidden.
      if ((child.hasError || child.type === 'ERROR') && !overlaps) problem = syntaxError(child.startPosition.row);
    }
  };
  const visitBlock = (block: Node | null): void => {
    if (block) visit(block);
  };
  // A module-level `if`/`try`/`with`…: its own parts must parse; its blocks may hold definitions.
  const visitCompound = (node: Node): void => {
    for (const part of node.namedChildren) {
      if (problem) return;
      if (part.type === 'block') visit(part);
      else if (COMPOUND.has(part.type)) visitCompound(part);
      else if (part.hasError || part.type === 'ERROR') problem = syntaxError(part.startPosition.row);
    }
  };
  visit(tree.rootNode);
  if (problem) return { ok: false, reason: problem };
  const out = [...lines];
  for (const stub of stubs) {
    if (PYTHON2_STATEMENT.test(lines.slice(stub.start - 1, stub.end).join('\n')))
      return {
        ok: false,
        reason: `line ${stub.start}'s definition looks like Python 2, which only the whole-file check reports`,
      };
    out[stub.start - 1] = stub.text;
    for (let row = stub.start; row < stub.end; row++) out[row] = '';
  }
  return {
    ok: true,
    plan: {
      text: joinLines(out, code),
      definitionRanges,
      focus: ranges,
      stubRanges: stubs.map(({ start, end }) => ({ start, end })),
      names,
      definitions,
      stubbed: stubs.length,
    },
  };
}

/** Whether a finding on the skeleton is one the whole file's analysis reports too (see SkeletonPlan). */
export function keptBySkeleton(plan: SkeletonPlan, d: Diagnostic): boolean {
  // The stubbed parts parse (tree-sitter said so): a syntax error is the kept parts'.
  if (d.kind === 'syntax') return true;
  // "'numpy as np' imported but unused", "redefinition of unused 'np' from line 3": any name in it.
  if (d.name !== undefined && (d.name.match(/[\p{L}_][\p{L}\p{N}_]*/gu) ?? []).some((n) => plan.names.has(n)))
    return true;
  if (d.line === undefined || within(d.line, plan.stubRanges)) return false;
  if (within(d.line, plan.definitionRanges)) return true;
  return within(d.line, plan.focus) && !(d.code !== undefined && WHOLE_FILE_KINDS.has(d.code));
}

/** Says what pyflakes saw, for `verification.checked`. */
export function describePlan(plan: SkeletonPlan): string {
  const focus = plan.focus.map((r) => (r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`)).join(', ');
  const around = plan.definitions.length ? ` in ${plan.definitions.join(', ')}` : ' at module level';
  return `pyflakes checked lines ${focus}${around} on a skeleton of the file (${plan.stubbed} other definitions stubbed)`;
}
