import type { Analyser } from '../analysis-container.js';
import { newDiagnostics, stillReported } from '../diagnostics.js';
import type { LanguageAdapter } from '../language-adapter.js';
import { changedLines, editsBetween, fromLineEdits, renderDsl } from '../line-edits.js';
import { QuickFixService, type ModelAccess } from '../quick-fix-service.js';
import { createPythonAdapter } from '../python/adapter.js';
import { forgetTrees } from '../python/text.js';
import type { Diagnostic, EditResponse } from '../types.js';
import type { CorpusFile } from './corpus.js';
import { BUG_KINDS, type BugKind, injectBug, seededRandom } from './inject.js';
import { type CaseResult, type Figures, markdownReport, tierTables } from './report.js';

/** One benchmark case: a clean file, the bug injected into it, and what pyflakes or the parser says. */
export interface BenchCase {
  file: string;
  kind: BugKind;
  original: string;
  broken: string;
  line: number;
  description: string;
  diagnostics: Diagnostic[];
  region: { start: number; end: number };
}

/** How to run the benchmark. */
export interface EditBenchOptions {
  files: readonly CorpusFile[];
  corpus: string;
  n: number;
  seed: number;
  analyser: Analyser;
  tiers: ReadonlyArray<'rule' | 'model'>;
  /** The model tier's model for one case (a scripted server answering that case, or a real model). */
  modelFor?: (benchCase: BenchCase) => Promise<{ access: ModelAccess; release(): Promise<void> }>;
  modelLabel?: string | null;
  onInjected?: (done: number, total: number) => void;
  onCase?: (done: number, total: number) => void;
}

/** The benchmark's outcome: the report's JSON and its Markdown. */
export interface EditBenchReport {
  json: {
    corpus: string;
    seed: number;
    files: number;
    attempted: number;
    injected: Record<string, number>;
    model: string | null;
    tiers: Record<string, Record<string, Figures>>;
    cases: Array<Omit<BenchCase, 'original' | 'broken'> & { results: CaseResult[] }>;
  };
  markdown: string;
}

/** Injects bugs until `n` are kept; a bug counts only when pyflakes or the parser reports something new. */
async function makeCases(
  options: EditBenchOptions,
  adapter: LanguageAdapter,
): Promise<{ cases: BenchCase[]; attempted: number }> {
  const random = seededRandom(options.seed);
  const cases: BenchCase[] = [];
  const cleanDiagnostics = new Map<string, Diagnostic[]>();
  let attempted = 0;
  for (let i = 0; cases.length < options.n && attempted < options.n * 40; i++) {
    const kind = BUG_KINDS[cases.length % BUG_KINDS.length]!;
    const file = options.files[Math.floor(random() * options.files.length)]!;
    attempted += 1;
    const injection = injectBug(kind, file.text, random);
    if (!injection) continue;
    if (!cleanDiagnostics.has(file.path)) {
      const clean = await options.analyser.check(file.text);
      if (!clean.available) throw new Error(`pyflakes is needed to keep only reported bugs: ${clean.reason}`);
      cleanDiagnostics.set(file.path, clean.diagnostics);
    }
    const broken = await options.analyser.check(injection.code);
    if (!broken.available) throw new Error(`pyflakes is needed to keep only reported bugs: ${broken.reason}`);
    const fresh = cleanDiagnostics.get(file.path)!.some((d) => d.kind === 'syntax')
      ? []
      : newDiagnostics(cleanDiagnostics.get(file.path)!, broken.diagnostics);
    if (fresh.length === 0) continue; // not reported: an editor would never ask
    const around = adapter.regionAround(injection.code, fresh[0]!.line ?? injection.line);
    const lines = fresh.map((d) => d.line ?? injection.line).concat(injection.line);
    // A dropped import is fixed at the top of the file: the region reaches it.
    const start = kind === 'drop_import' ? 1 : Math.min(around.start, ...lines);
    const end = Math.max(around.end, ...lines);
    cases.push({
      file: file.path,
      kind,
      original: file.text,
      broken: injection.code,
      line: injection.line,
      description: injection.description,
      diagnostics: fresh,
      region: { start, end },
    });
    options.onInjected?.(cases.length, options.n);
  }
  return { cases, attempted };
}

/** Scores one answer against the clean file. */
async function score(
  benchCase: BenchCase,
  tier: 'rule' | 'model',
  answer: EditResponse,
  analyser: Analyser,
  adapter: LanguageAdapter,
): Promise<CaseResult> {
  const inverse = editsBetween(benchCase.broken, benchCase.original);
  const reason = answer.reason ?? answer.verification.reason;
  const base = {
    kind: benchCase.kind,
    tier,
    status: answer.status,
    ...(reason ? { reason: reason.slice(0, 500) } : {}),
    totalMs: answer.timings_ms.total,
    modelMs: answer.timings_ms.model,
    overheadMs: answer.timings_ms.overhead,
    inverseLines: changedLines(inverse),
  };
  const edits = answer.edits.length ? fromLineEdits(benchCase.broken, answer.edits) : undefined;
  let result: string | undefined;
  try {
    result = edits ? adapter.apply(benchCase.broken, edits) : undefined;
  } catch {
    result = undefined;
  }
  if (result === undefined)
    return {
      ...base,
      fixed: false,
      valid: false,
      answered: answer.edits.length > 0,
      exactRestore: false,
      changedLines: 0,
    };
  const valid = adapter.parse(result).ok;
  const [after, clean] = await Promise.all([analyser.check(result), analyser.check(benchCase.original)]);
  const fixed =
    valid &&
    after.available &&
    clean.available &&
    !benchCase.diagnostics.some((d) => stillReported(d, after.diagnostics)) &&
    newDiagnostics(clean.diagnostics, after.diagnostics).length === 0;
  return {
    ...base,
    fixed,
    valid,
    answered: true,
    exactRestore: result === benchCase.original,
    changedLines: changedLines(editsBetween(benchCase.broken, result)),
  };
}

/**
 * The synthetic-bug benchmark: inject one reported bug per case into clean files, ask each tier
 * for a fix through the quick-fix service (cache off), and score fix rate, validity, exact
 * restores, minimality against the inverse mutation, and latency with fixwright's own overhead.
 */
export async function runEditBench(options: EditBenchOptions): Promise<EditBenchReport> {
  const adapter = createPythonAdapter(options.analyser);
  const { cases, attempted } = await makeCases(options, adapter);
  // The measured services get adapters of their own: nothing the case-making checked or parsed is remembered for them.
  const ruleService = new QuickFixService({
    adapters: [createPythonAdapter(options.analyser)],
    model: { name: null, reason: 'the rule tier alone is measured' },
    tiers: ['rule'],
  });
  const rows: EditBenchReport['json']['cases'] = [];
  const all: CaseResult[] = [];
  let done = 0;
  for (const benchCase of cases) {
    const request = {
      language: 'python',
      code: benchCase.broken,
      file_path: benchCase.file,
      start_line: benchCase.region.start,
      end_line: benchCase.region.end,
      diagnostics: benchCase.diagnostics.map((d) => ({
        ...(d.line !== undefined ? { line: d.line } : {}),
        message: d.message,
      })),
      instruction: 'fix errors only',
    };
    const results: CaseResult[] = [];
    forgetTrees();
    if (options.tiers.includes('rule'))
      results.push(await score(benchCase, 'rule', await ruleService.edit(request), options.analyser, adapter));
    forgetTrees();
    if (options.tiers.includes('model') && options.modelFor) {
      const model = await options.modelFor(benchCase);
      try {
        const service = new QuickFixService({
          adapters: [createPythonAdapter(options.analyser)],
          model: model.access,
          tiers: ['model'],
        });
        results.push(await score(benchCase, 'model', await service.edit(request), options.analyser, adapter));
      } finally {
        await model.release();
      }
    }
    all.push(...results);
    rows.push({
      file: benchCase.file,
      kind: benchCase.kind,
      line: benchCase.line,
      description: benchCase.description,
      diagnostics: benchCase.diagnostics,
      region: benchCase.region,
      results,
    });
    options.onCase?.(++done, cases.length);
  }
  const injected = Object.fromEntries(BUG_KINDS.map((k) => [k, cases.filter((c) => c.kind === k).length]));
  const json = {
    corpus: options.corpus,
    seed: options.seed,
    files: options.files.length,
    attempted,
    injected,
    model: options.tiers.includes('model') ? (options.modelLabel ?? null) : null,
    tiers: tierTables(all),
    cases: rows,
  };
  return { json, markdown: markdownReport(json) };
}

/** The inverse mutation of a case as line-range DSL (what a scripted model answers). */
export function inverseDsl(benchCase: BenchCase): string {
  return `${renderDsl(editsBetween(benchCase.broken, benchCase.original))}\n`;
}
