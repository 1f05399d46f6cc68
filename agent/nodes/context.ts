import {
  type FileSummary,
  type PySymbol,
  type RankedSymbol,
  type RepoIndex,
  MODULE_SYMBOL,
  rankFunctions,
  withoutEnvironmentReport,
  tokenize,
} from '../../localisation/index.js';
import type { AgentDeps } from '../deps.js';
import { cutsFor } from '../sampling/plan.js';
import type { AgentStateType, AgentUpdate, ContextCut, LocalisedFile } from '../state.js';
import { promptFiles } from './localise.js';

const numberedLine = (line: string, n: number) => `${String(n).padStart(5)} ${line}`;
const numberedLines = (lines: readonly string[], from: number) =>
  lines.map((line, i) => numberedLine(line, from + i)).join('\n');

const outline = (s: PySymbol) =>
  `${String(s.startLine).padStart(5)} ${'    '.repeat(s.qualname.split('.').length - 1)}${s.kind === 'class' ? 'class' : 'def'} ${s.name} ` +
  `… (to line ${s.endLine})`;

/** Symbols named on a file's "Most likely to change" line. */
const LIKELY_NAMED = 3;

/**
 * The lines (1-based) that showing a ranked symbol in full shows: a function or method whole,
 * nested definitions included; a class only its own non-blank lines (header, docstring,
 * attributes), so a class that ranks high does not bring every method along; `<module>` the
 * non-blank lines outside every symbol.
 */
function linesOf(ranked: RankedSymbol, summary: FileSummary, lines: readonly string[]): number[] {
  const inside = (s: PySymbol, l: number) => s.startLine <= l && l <= s.endLine;
  const range = (from: number, to: number) =>
    Array.from({ length: Math.max(0, Math.min(to, lines.length) - from + 1) }, (_, i) => from + i);
  // Blank lines between definitions say nothing; the line numbers show the gaps.
  const filled = (l: number) => lines[l - 1]!.trim() !== '';
  if (ranked.qualname === MODULE_SYMBOL)
    return range(1, lines.length).filter((l) => filled(l) && !summary.symbols.some((s) => inside(s, l)));
  if (ranked.kind !== 'class') return range(ranked.startLine, ranked.endLine);
  const nested = summary.symbols.filter((s) => s.startLine > ranked.startLine && s.endLine <= ranked.endLine);
  return range(ranked.startLine, ranked.endLine).filter((l) => filled(l) && !nested.some((s) => inside(s, l)));
}

/** A condensed file: its text for the prompt and the symbols shown in full, best first. */
export interface Condensed {
  body: string;
  full: string[];
  /** `<module>` when only its lines that hold issue words (with their neighbours) fitted. */
  part: string[];
}

/** Module-level lines shown either side of one that holds issue words, when `<module>` does not fit whole. */
const MODULE_CONTEXT_LINES = 1;

/**
 * The `<module>` lines worth showing when they do not all fit: each line holding issue words, the
 * rarest words among those lines first, as a group with its module-level neighbours. A 400-line
 * constants module otherwise shows nothing at all, though the issue names the constant to change.
 */
function moduleMatches(
  moduleLines: readonly number[],
  lines: readonly string[],
  issueTokens: ReadonlySet<string>,
): number[][] {
  const words = moduleLines.map((l) => new Set(tokenize(lines[l - 1]!).filter((t) => issueTokens.has(t))));
  const df = new Map<string, number>();
  for (const ws of words) for (const t of ws) df.set(t, (df.get(t) ?? 0) + 1);
  const weight = (ws: Set<string>) => [...ws].reduce((n, t) => n + Math.log(1 + moduleLines.length / df.get(t)!), 0);
  return moduleLines
    .map((l, at) => ({ at, l, w: weight(words[at]!) }))
    .filter((h) => h.w > 0)
    .sort((a, b) => b.w - a.w || a.l - b.l)
    .map(({ at }) => moduleLines.slice(Math.max(0, at - MODULE_CONTEXT_LINES), at + MODULE_CONTEXT_LINES + 1));
}

/**
 * A file too long to show whole: its symbols most likely to change (`ranked`, from `rankSymbols`)
 * in full with line numbers, best first and at most `most` of them, while the body stays within
 * `budget` characters; every other function and class as a one-line outline (the outlines are
 * always there, so the body exceeds `budget` only when they alone do). Module-level lines (imports,
 * constants) show only when `<module>` itself is chosen: all of them when they fit, else (given
 * `issueTokens`) those holding issue words with a line either side, while they fit.
 */
export function condense(
  summary: FileSummary,
  text: string,
  ranked: readonly RankedSymbol[],
  budget: number,
  most = Infinity,
  issueTokens?: ReadonlySet<string>,
): Condensed {
  const lines = text.replace(/\n$/, '').split('\n');
  const starts = new Map(summary.symbols.map((s) => [s.startLine, s]));
  const shown = new Set<number>();
  const full: string[] = [];
  const part: string[] = [];
  // What the body costs as it stands: every line it prints, with its newline.
  let cost = summary.symbols.reduce((n, s) => n + outline(s).length + 1, 0);
  // Showing a symbol's first line in full replaces its outline.
  const extraOf = (fresh: readonly number[]) =>
    fresh.reduce(
      (n, l) =>
        n + numberedLine(lines[l - 1]!, l).length + 1 - (starts.has(l) ? outline(starts.get(l)!).length + 1 : 0),
      0,
    );
  const show = (fresh: readonly number[], extra: number) => {
    for (const l of fresh) shown.add(l);
    cost += extra;
  };
  for (const r of ranked) {
    if (full.length + part.length >= most) break;
    // Not `break`: `<module>` is held within the top five even when nothing matched it.
    if (r.score <= 0) continue;
    const own = linesOf(r, summary, lines);
    const fresh = own.filter((l) => !shown.has(l));
    if (fresh.length === 0) continue; // already shown inside a chosen function
    const extra = extraOf(fresh);
    if (cost + extra <= budget) {
      show(fresh, extra);
      full.push(r.qualname);
      continue;
    }
    if (r.qualname !== MODULE_SYMBOL || !issueTokens) continue;
    let any = false;
    for (const group of moduleMatches(own, lines, issueTokens)) {
      const more = group.filter((l) => !shown.has(l));
      const cheaper = extraOf(more);
      if (more.length === 0 || cost + cheaper > budget) continue;
      show(more, cheaper);
      any = true;
    }
    if (any) part.push(r.qualname);
  }
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (shown.has(i + 1)) out.push(numberedLine(line, i + 1));
    else if (starts.has(i + 1)) out.push(outline(starts.get(i + 1)!));
  });
  return { body: out.join('\n'), full, part };
}

/** The "Most likely to change" line of a file: its best symbols that the issue touches at all, with their lines. */
function likelyLine(ranked: readonly RankedSymbol[]): { line: string; names: string[] } {
  const top = ranked.filter((r) => r.score > 0).slice(0, LIKELY_NAMED);
  // A class scores on its own lines (header, docstring, attributes), not its methods' lines: its span would mislead.
  const named = top.map((r) =>
    r.qualname === MODULE_SYMBOL
      ? 'module level (imports, constants)'
      : r.kind === 'class'
        ? `class ${r.qualname} (line ${r.startLine})`
        : `${r.qualname} (lines ${r.startLine}-${r.endLine})`,
  );
  return {
    line: named.length ? `Most likely to change: ${named.join(', ')}\n` : '',
    names: top.map((r) => r.qualname),
  };
}

/** Files the top-k cut shows, each cut to its functions most likely to change. */
const TOP_K_FILES = 5;
/** Functions the top-k cut shows in full per file: the depth at which function recall is reported (@5). */
const TOP_K_FUNCTIONS = 5;

/** How one file was shown: whole or condensed, the functions it names as most likely to change, and (condensed) those shown in full or in part. */
export interface ShownFile {
  path: string;
  mode: 'whole' | 'condensed';
  likely_to_change: string[];
  shown_in_full?: string[];
  /** `<module>` when only its lines holding issue words were shown. */
  shown_in_part?: string[];
}

/**
 * The code of some files within `budget` characters of prompt (headers, fences and line numbers
 * counted): whole while they fit (unless `functions`), condensed otherwise, and left out when not
 * even a file's outline fits what is left, or when condensing leaves nothing to show.
 */
function codeOf(
  files: readonly LocalisedFile[],
  index: RepoIndex,
  rankings: ReadonlyMap<string, RankedSymbol[]>,
  budget: number,
  functions: boolean,
  issueTokens: ReadonlySet<string>,
) {
  const parts: string[] = [];
  const shown: ShownFile[] = [];
  files.forEach((file, i) => {
    const text = index.texts.get(file.path) ?? '';
    const summary = index.summaries.find((s) => s.path === file.path);
    const ranked = rankings.get(file.path) ?? [];
    const likely = likelyLine(ranked);
    const separator = parts.length ? 2 : 0;
    const fence = (header: string, body: string) => `${header}\n${likely.line}\`\`\`python\n${body}\n\`\`\``;
    if (!functions || !summary || summary.symbols.length === 0) {
      const whole = fence(file.path, numberedLines(text.replace(/\n$/, '').split('\n'), 1));
      if (separator + whole.length <= budget) {
        parts.push(whole);
        budget -= separator + whole.length;
        shown.push({ path: file.path, mode: 'whole', likely_to_change: likely.names });
        return;
      }
    }
    if (!summary) return;
    const header = `${file.path} (condensed: the parts most likely to change in full, the rest outlined)`;
    const frame = separator + fence(header, '').length;
    // A condensed file takes at most an equal share of what is left, so the files after it are not
    // starved: with every symbol the issue touches a candidate, one long file could fill any budget.
    const share = Math.floor(budget / (files.length - i));
    const { body, full, part } = condense(
      summary,
      text,
      ranked,
      share - frame,
      functions ? TOP_K_FUNCTIONS : Infinity,
      issueTokens,
    );
    // A file with no symbols and nothing that fitted: an empty fence would only cost budget and claim the file was shown.
    if (body === '' || frame + body.length > budget) return;
    parts.push(fence(header, body));
    budget -= frame + body.length;
    shown.push({
      path: file.path,
      mode: 'condensed',
      likely_to_change: likely.names,
      shown_in_full: full,
      ...(part.length ? { shown_in_part: part } : {}),
    });
  });
  return { context: parts.join('\n\n'), shown };
}

/**
 * Builds the code context: the conformal set's files, whole, best first, while the budget lasts;
 * condensed files after. Each file names its functions most likely to change (`rankSymbols`, the
 * ranking whose function recall `localise --dataset` reports), and a condensed file shows those in
 * full. With several candidates per attempt, the other cuts too: the top file alone, and the top
 * files cut to their five most likely functions.
 */
export async function contextNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const index = deps.run.index!;
  const cuts = cutsFor(deps.samples);
  const filesOf = (cut: ContextCut) =>
    cut === 'conformal_set'
      ? promptFiles(state.files)
      : cut === 'top_file'
        ? state.files.slice(0, 1)
        : state.files.slice(0, TOP_K_FILES);
  const paths = [...new Set(cuts.flatMap((cut) => filesOf(cut).map((f) => f.path)))];
  const rankings = new Map(rankFunctions(index, paths, state.issue, Infinity).map((f) => [f.path, f.functions]));
  const issueTokens = new Set(tokenize(withoutEnvironmentReport(state.issue)));
  const contexts: Partial<Record<ContextCut, string>> = {};
  const shownBy: Record<string, { files: ShownFile[]; chars: number }> = {};
  for (const cut of cuts) {
    const { context, shown } = codeOf(
      filesOf(cut),
      index,
      rankings,
      deps.contextBudget,
      cut === 'top_k_functions',
      issueTokens,
    );
    contexts[cut] = context;
    shownBy[cut] = { files: shown, chars: context.length };
  }
  const main = shownBy.conformal_set!;
  deps.events.emit('context', { files: main.files, chars: main.chars, ...(deps.samples > 1 ? { cuts: shownBy } : {}) });
  return { codeContext: contexts.conformal_set!, contexts };
}
