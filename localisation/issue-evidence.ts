import { moduleIndex } from './import-graph.js';
import type { FileSummary } from './python-parse.js';

/** What the issue text names, matched to files, with the reason for each match. */
export interface Evidence {
  path: string;
  score: number;
  reasons: string[];
}

/** Evidence weights: how much each kind of mention says about a file. */
export interface EvidenceWeights {
  traceback: number;
  path: number;
  module: number;
  symbol: number;
}

export const DEFAULT_EVIDENCE_WEIGHTS: EvidenceWeights = { traceback: 3, path: 3, module: 2, symbol: 1.5 };

/** Files whose path ends with the mentioned path (longest suffix wins). */
function filesEndingWith(mention: string, paths: readonly string[]): string[] {
  const parts = mention
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p && p !== '.');
  for (let take = parts.length; take >= 1; take--) {
    const suffix = parts.slice(parts.length - take).join('/');
    const hits = paths.filter((p) => p === suffix || p.endsWith(`/${suffix}`));
    if (hits.length > 0) return take === 1 && hits.length > 3 ? [] : hits;
  }
  return [];
}

// An index's summaries are ranked against many issues: their paths and module names are built once.
const pathIndexes = new WeakMap<readonly FileSummary[], { paths: string[]; modules: Map<string, string> }>();
function pathsOf(summaries: readonly FileSummary[]): { paths: string[]; modules: Map<string, string> } {
  let found = pathIndexes.get(summaries);
  if (!found) {
    const paths = summaries.map((s) => s.path);
    pathIndexes.set(summaries, (found = { paths, modules: moduleIndex(paths) }));
  }
  return found;
}

/** An index of where each class and function name is defined. */
export function symbolDefinitions(summaries: readonly FileSummary[]): Map<string, Set<string>> {
  const defs = new Map<string, Set<string>>();
  for (const s of summaries) {
    for (const sym of s.symbols) {
      if (sym.name.startsWith('__') && sym.name.endsWith('__')) continue;
      let set = defs.get(sym.name);
      if (!set) defs.set(sym.name, (set = new Set()));
      set.add(s.path);
    }
  }
  return defs;
}

/**
 * Reads what an issue names — traceback frames, file paths, dotted module paths, class and
 * function names — and scores the files they point to. A name defined in one file is strong
 * evidence; a name defined in many is weak (weighted by 1/number of defining files).
 */
export function issueEvidence(
  issue: string,
  summaries: readonly FileSummary[],
  defs: Map<string, Set<string>>,
  weights: EvidenceWeights = DEFAULT_EVIDENCE_WEIGHTS,
): Evidence[] {
  const { paths, modules } = pathsOf(summaries);
  const scores = new Map<string, Evidence>();
  const add = (path: string, score: number, reason: string) => {
    let e = scores.get(path);
    if (!e) scores.set(path, (e = { path, score: 0, reasons: [] }));
    e.score += score;
    if (e.reasons.length < 8 && !e.reasons.includes(reason)) e.reasons.push(reason);
  };

  // Traceback frames, CPython style (`File "x.py", line 3`) and IPython style (`File ~/x.py:3`):
  // the innermost frames (last in the text) weigh most.
  const frames = [...issue.matchAll(/File "([^"]+\.py)", line (\d+)|File ([~/.]?[^\s"':,]+\.py):(\d+)/g)].map((m) =>
    m[1] !== undefined ? ([m[0], m[1], m[2]] as const) : ([m[0], m[3]!, m[4]] as const),
  );
  frames.forEach((m, i) => {
    const hits = filesEndingWith(m[1]!, paths);
    const weight = weights.traceback * (0.5 + (0.5 * (i + 1)) / frames.length);
    for (const hit of hits) add(hit, weight / hits.length, `traceback frame ${m[1]}:${m[2]}`);
  });

  // Paths written out ("see requests/sessions.py", "/usr/lib/python3/site-packages/x/y.py:12").
  const framePaths = new Set(frames.map((m) => m[1]));
  for (const m of issue.matchAll(/(?:^|[\s`'"([])([~/]?(?:[\w.-]+\/)*[\w-]+\.py)\b/g)) {
    if (framePaths.has(m[1]!)) continue;
    const hits = filesEndingWith(m[1]!, paths);
    for (const hit of hits) add(hit, weights.path / hits.length, `mentions ${m[1]}`);
  }

  // Dotted names: a module path, or a module followed by attributes (`xarray.core.dataset.Dataset`).
  const seenDotted = new Set<string>();
  for (const m of issue.matchAll(/\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b/g)) {
    const dotted = m[0];
    if (seenDotted.has(dotted) || dotted.endsWith('.py')) continue;
    seenDotted.add(dotted);
    const parts = dotted.split('.');
    for (let take = parts.length; take >= 2; take--) {
      const hit = modules.get(parts.slice(0, take).join('.'));
      if (hit) {
        add(hit, (weights.module * take) / parts.length, `names module ${parts.slice(0, take).join('.')}`);
        break;
      }
    }
  }

  // Class and function names: each distinct name once, weighted by how rare its definition is.
  // Plain lower-case words count only where written as code: `name`, .name or name( — found in one
  // linear pass, so a huge issue costs linear time.
  const codeLike = new Set<string>();
  for (const m of issue.matchAll(/(?:`|\.)([a-z]+)\b|\b([a-z]+)\(/g)) codeLike.add((m[1] ?? m[2])!);
  const names = new Set<string>();
  for (const m of issue.matchAll(/\b[A-Za-z_]\w{2,}\b/g)) {
    const word = m[0];
    if (/^[a-z]+$/.test(word) && !codeLike.has(word)) continue;
    names.add(word);
  }
  for (const name of names) {
    const files = defs.get(name);
    if (!files || files.size > 8) continue;
    for (const path of files) add(path, weights.symbol / files.size, `defines ${name}`);
  }
  return [...scores.values()].sort((a, b) => b.score - a.score || a.path.localeCompare(b.path));
}
