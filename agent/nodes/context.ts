import type { FileSummary, PySymbol, RepoIndex } from '../../localisation/index.js';
import { symbolRelevance } from '../../localisation/index.js';
import { tokenize } from '../../localisation/tokenize.js';
import type { AgentDeps } from '../deps.js';
import { cutsFor } from '../sampling/plan.js';
import type { AgentStateType, AgentUpdate, ContextCut, LocalisedFile } from '../state.js';
import { promptFiles } from './localise.js';

const numberedLines = (lines: readonly string[], from: number) => lines.map((line, i) => `${String(from + i).padStart(5)} ${line}`).join('\n');

const outline = (s: PySymbol) => `${String(s.startLine).padStart(5)} ${'    '.repeat(s.qualname.split('.').length - 1)}${s.kind === 'class' ? 'class' : 'def'} ${s.name} … (to line ${s.endLine})`;

/**
 * A file too long to show whole: the functions and classes that share the most words with the
 * issue in full (with line numbers), while `budget` lasts; every other symbol as a one-line outline.
 */
export function condense(summary: FileSummary, text: string, issueTokens: ReadonlySet<string>, budget: number): string {
  const lines = text.replace(/\n$/, '').split('\n');
  const relevance = (s: PySymbol) => symbolRelevance(s, issueTokens);
  const ranked = summary.symbols
    .map((s) => ({ s, score: relevance(s) }))
    .filter((x) => x.score > 0)
    .sort((a, b) => b.score - a.score || a.s.endLine - a.s.startLine - (b.s.endLine - b.s.startLine));
  const chosen: PySymbol[] = [];
  let left = budget;
  for (const { s } of ranked) {
    const size = lines.slice(s.startLine - 1, s.endLine).join('\n').length;
    const inside = chosen.some((c) => c.startLine <= s.startLine && s.endLine <= c.endLine);
    if (inside || size > left) continue;
    // A chosen class replaces the methods already chosen inside it.
    for (let i = chosen.length - 1; i >= 0; i--) if (s.startLine <= chosen[i]!.startLine && chosen[i]!.endLine <= s.endLine) chosen.splice(i, 1);
    chosen.push(s);
    left -= size;
  }
  const out: string[] = [];
  let shownUntil = 0;
  for (const s of summary.symbols) {
    if (s.endLine <= shownUntil) continue;
    if (chosen.includes(s)) {
      out.push(numberedLines(lines.slice(s.startLine - 1, s.endLine), s.startLine));
      shownUntil = s.endLine;
    } else if (s.startLine > shownUntil) {
      out.push(outline(s));
    }
  }
  return out.join('\n');
}

/** Files the top-k cut shows, each cut to its functions most related to the issue. */
const TOP_K_FILES = 5;

/** The code of some files within a budget: whole while they fit (unless `functions`), condensed otherwise. */
function codeOf(files: readonly LocalisedFile[], index: RepoIndex, issueTokens: ReadonlySet<string>, budget: number, functions: boolean) {
  const parts: string[] = [];
  const shown: Array<{ path: string; mode: 'whole' | 'condensed' }> = [];
  files.forEach((file, i) => {
    const text = index.texts.get(file.path) ?? '';
    const summary = index.summaries.find((s) => s.path === file.path);
    // The functions cut shares its budget among its files, so the last one is not starved.
    const share = functions ? Math.floor(budget / (files.length - i)) : budget;
    if (text.length <= budget && (!functions || !summary || summary.symbols.length === 0)) {
      parts.push(`${file.path}\n\`\`\`python\n${numberedLines(text.replace(/\n$/, '').split('\n'), 1)}\n\`\`\``);
      budget -= text.length;
      shown.push({ path: file.path, mode: 'whole' });
      return;
    }
    if (!summary) return;
    const body = condense(summary, text, issueTokens, Math.max(0, share));
    parts.push(`${file.path} (condensed: the parts most related to the issue in full, the rest outlined)\n\`\`\`python\n${body}\n\`\`\``);
    budget -= body.length;
    shown.push({ path: file.path, mode: 'condensed' });
  });
  return { context: parts.join('\n\n'), shown };
}

/**
 * Builds the code context: the conformal set's files, whole, best first, while the budget lasts;
 * condensed files after. With several candidates per attempt, the other cuts too: the top file
 * alone, and the top files cut to the functions the issue names.
 */
export async function contextNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const index = deps.run.index!;
  const issueTokens = new Set(tokenize(state.issue));
  const contexts: Partial<Record<ContextCut, string>> = {};
  const cuts: Record<string, { files: Array<{ path: string; mode: 'whole' | 'condensed' }>; chars: number }> = {};
  for (const cut of cutsFor(deps.samples)) {
    const files = cut === 'conformal_set' ? promptFiles(state.files) : cut === 'top_file' ? state.files.slice(0, 1) : state.files.slice(0, TOP_K_FILES);
    const { context, shown } = codeOf(files, index, issueTokens, deps.contextBudget, cut === 'top_k_functions');
    contexts[cut] = context;
    cuts[cut] = { files: shown, chars: context.length };
  }
  const main = cuts.conformal_set!;
  deps.events.emit('context', { files: main.files, chars: main.chars, ...(deps.samples > 1 ? { cuts } : {}) });
  return { codeContext: contexts.conformal_set!, contexts };
}
