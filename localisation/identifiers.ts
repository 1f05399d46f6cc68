import type { Ranking } from './fusion.js';
import type { RepoIndex } from './repo-index.js';

/** Why a file scored under the identifiers signal. */
export interface IdentifierMatch {
  path: string;
  score: number;
  reasons: string[];
}

/** Where each name is defined or exported, with how strongly the definition speaks for the file. */
export type NameTable = Map<string, Map<string, number>>;

// A class or function defined in a file is the file; a method or a module constant less so (many
// classes define `__call__` or `DEFAULTS`).
const KIND_WEIGHT = { class: 1, function: 1, method: 0.7, assignment: 0.6, exported: 0.8 } as const;

function addName(table: NameTable, name: string, path: string, weight: number): void {
  if (name.length < 3 || (name.startsWith('__') && name.endsWith('__'))) return;
  let files = table.get(name);
  if (!files) table.set(name, (files = new Map()));
  files.set(path, Math.max(files.get(path) ?? 0, weight));
}

/**
 * Every defined and exported name of the candidates: classes, functions and methods (from the
 * parse), module-level assignments and `__all__` entries (read from the text, which the parse
 * does not keep).
 */
export function nameTable(index: Pick<RepoIndex, 'summaries' | 'texts'>): NameTable {
  const table: NameTable = new Map();
  for (const summary of index.summaries) {
    for (const s of summary.symbols) addName(table, s.name, summary.path, KIND_WEIGHT[s.kind]);
    const text = index.texts.get(summary.path) ?? '';
    for (const m of text.matchAll(/^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)/gm))
      addName(table, m[1]!, summary.path, KIND_WEIGHT.assignment);
    const all = /^__all__\s*(?:\+?=)\s*[[(]([^\])]*)/m.exec(text);
    if (all)
      for (const m of all[1]!.matchAll(/['"]([A-Za-z_]\w*)['"]/g))
        addName(table, m[1]!, summary.path, KIND_WEIGHT.exported);
  }
  return table;
}

/** Names an issue writes as code, each with how it was written (for the reasons). */
export function issueIdentifiers(issue: string): Map<string, string> {
  const found = new Map<string, string>();
  const add = (name: string, how: string) => {
    if (name.length >= 3 && !found.has(name)) found.set(name, how);
  };
  for (const m of issue.matchAll(/`([^`\n]{1,200})`/g))
    for (const w of m[1]!.matchAll(/[A-Za-z_]\w*/g)) add(w[0], 'in backticks');
  for (const m of issue.matchAll(/\b([A-Za-z_]\w*)\s*\(/g)) add(m[1]!, 'called');
  for (const m of issue.matchAll(/\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b/g))
    for (const part of m[0].split('.')) add(part, `in ${m[0]}`);
  for (const m of issue.matchAll(/\b[A-Za-z_]\w*\b/g)) {
    const w = m[0];
    if (w.includes('_') && /[a-z]/i.test(w.replace(/_/g, ''))) add(w, 'snake_case');
    else if (/[a-z][A-Z]|^[A-Z][a-z]+[A-Z]/.test(w)) add(w, 'CamelCase');
  }
  // A test's name says what it exercises: test_parse_header_links exercises parse_header_links.
  for (const [name] of [...found]) {
    const tested = /^test_+(\w{3,})$/.exec(name)?.[1];
    if (tested) add(tested, `tested by ${name}`);
  }
  return found;
}

/** Error messages an issue quotes (`ValueError: cannot reindex …`, `KeyError: 'lat'`). */
export function errorMessages(issue: string): Array<{ type: string; message: string }> {
  const out: Array<{ type: string; message: string }> = [];
  for (const m of issue.matchAll(/\b([A-Z]\w*(?:Error|Exception|Warning)):[ \t]+([^\n]{3,300})/g))
    out.push({ type: m[1]!, message: m[2]!.trim() });
  return out;
}

/**
 * The literal pieces of a message that the code could hold: the text between its variable parts
 * (quoted values, numbers, reprs), at least three words long. `KeyError: 'lat'` yields the key
 * itself as a quoted literal.
 */
export function messageFragments(message: string): string[] {
  const key = /^['"]([\w.-]{3,60})['"]$/.exec(message);
  if (key) return [`'${key[1]}'`, `"${key[1]}"`];
  return message
    .split(/'[^']*'|"[^"]*"|<[^>]*>|\([^)]*\)|\b0x[0-9a-f]+\b|-?\b\d+(?:\.\d+)?\b|[{}[\]]/i)
    .map((f) => f.trim().replace(/^[\s:,.;]+|[\s:,.;]+$/g, ''))
    .filter((f) => f.split(/\s+/).length >= 3 && f.length >= 12);
}

/** How the identifiers signal weighs its kinds of evidence. */
export interface IdentifierWeights {
  name: number;
  testFile: number;
  message: number;
  /** Names defined in more files than this say nothing about which one the issue means. */
  maxFiles: number;
}

export const DEFAULT_IDENTIFIER_WEIGHTS: IdentifierWeights = { name: 1, testFile: 1.5, message: 3, maxFiles: 20 };

const tables = new WeakMap<object, NameTable>();

/**
 * Ranks files by the identifiers an issue writes as code, each name weighted by its rarity in the
 * repository (log(1 + N/df), N candidates, df defining files): a name one file defines points at
 * it; one forty files define barely counts. Also test files the issue names mapped to the module
 * they test (`test_sessions.py` → `sessions.py`, test files are not candidates themselves) and
 * quoted error messages found verbatim in the code that raises them.
 */
export function rankIdentifiers(
  index: Pick<RepoIndex, 'summaries' | 'texts'>,
  issue: string,
  limit: number,
  weights: IdentifierWeights = DEFAULT_IDENTIFIER_WEIGHTS,
): IdentifierMatch[] {
  let table = tables.get(index);
  if (!table) tables.set(index, (table = nameTable(index)));
  const n = Math.max(1, index.summaries.length);
  const scores = new Map<string, IdentifierMatch>();
  const add = (path: string, score: number, reason: string) => {
    let m = scores.get(path);
    if (!m) scores.set(path, (m = { path, score: 0, reasons: [] }));
    m.score += score;
    if (m.reasons.length < 8) m.reasons.push(reason);
  };

  for (const [name, how] of issueIdentifiers(issue)) {
    const files = table.get(name);
    if (!files || files.size > weights.maxFiles) continue;
    const rarity = Math.log(1 + n / files.size);
    for (const [path, kind] of files)
      add(path, weights.name * rarity * kind, `defines ${name} (${how}, ${files.size} file(s))`);
  }

  const byStem = new Map<string, string[]>();
  for (const s of index.summaries) {
    const stem = s.path.slice(s.path.lastIndexOf('/') + 1).replace(/\.py$/, '');
    byStem.set(stem, [...(byStem.get(stem) ?? []), s.path]);
  }
  for (const stem of new Set([...issue.matchAll(/\btest_(\w+?)\.py\b/g)].map((m) => m[1]!))) {
    const hits = byStem.get(stem) ?? byStem.get(stem.replace(/^_+/, '')) ?? [];
    for (const path of hits) add(path, weights.testFile / hits.length, `tested by test_${stem}.py`);
  }

  for (const { type, message } of errorMessages(issue)) {
    for (const fragment of messageFragments(message)) {
      const hits = index.summaries.filter((s) => index.texts.get(s.path)?.includes(fragment)).map((s) => s.path);
      if (hits.length === 0 || hits.length > 5) continue;
      for (const path of hits)
        add(path, weights.message / hits.length, `holds the ${type} message "${fragment.slice(0, 60)}"`);
    }
  }
  return [...scores.values()].sort((a, b) => b.score - a.score || a.path.localeCompare(b.path)).slice(0, limit);
}

/** The identifiers signal as a ranking. */
export function identifierRanking(
  index: Pick<RepoIndex, 'summaries' | 'texts'>,
  issue: string,
  limit: number,
  weights?: IdentifierWeights,
): Ranking {
  return rankIdentifiers(index, issue, limit, weights).map(({ path, score }) => ({ path, score }));
}
