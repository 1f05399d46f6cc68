import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FixwrightError, instanceFileName, KEY_SHAPES } from '../core/index.js';
import { type ExportCard, writeCard } from './card.js';
import { dpoRow, rowTokens, sftRow, type SftStyle } from './format.js';
import { dpoCandidates, noneSkipped, sftCandidates, type DpoPair, type SftPair } from './pairs.js';
import { readTrajectory, type RunTrace, type TraceProblem } from './trajectory.js';

/** What `fixwright export` is asked for. */
export interface ExportOptions {
  trajectories: string[];
  evalReports: string[];
  format: 'sft' | 'dpo';
  style: SftStyle;
  maxTokens: number;
  valFraction: number;
  /** SWE-bench rows whose gold `patch` and `test_patch` must never appear in a pair. */
  goldRows?: Array<{ instance_id: string; patch?: string; test_patch?: string }>;
  /** Known secrets (the configured API keys), refused wherever they appear. */
  secrets: string[];
  out: string;
  onFile?: (file: string) => void;
}

/** The trajectory files under the given paths (files as they are, directories searched for *.jsonl). */
export function trajectoryFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6) return;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== 'data') walk(path, depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.jsonl')) files.push(path);
    }
  };
  for (const p of paths) {
    if (!existsSync(p))
      throw new FixwrightError('FW_ERR_BAD_INPUT', `--trajectories ${p} does not exist`, { field: '--trajectories' });
    if (statSync(p).isDirectory()) walk(p, 0);
    else files.push(p);
  }
  if (files.length === 0)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `no trajectory files (*.jsonl) under ${paths.join(', ')}: point --trajectories at a solve --out directory or a bench run's trajectories/`,
      { field: '--trajectories' },
    );
  return files;
}

/** One verdict of `fixwright eval`: the patch it judged (when its directory keeps it) and whether it resolved the instance. */
interface Evaluation {
  patch?: string;
  resolved: boolean;
}

// The layout `fixwright eval --out DIR` writes: DIR/report.json and DIR/instances/<id>/result.json.
const evalInstanceDir = (report: string, id: string) => join(dirname(report), 'instances', instanceFileName(id));

/** The patch an evaluation judged: instances/<id>/result.json's model_patch, else instances/<id>/patch.diff. */
function evaluatedPatch(report: string, id: string): string | undefined {
  const dir = evalInstanceDir(report, id);
  try {
    const patch = (JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { model_patch?: unknown }).model_patch;
    if (typeof patch === 'string') return patch;
  } catch {
    // No result.json (or an unreadable one): patch.diff, written beside it, says the same.
  }
  return existsSync(join(dir, 'patch.diff')) ? readFileSync(join(dir, 'patch.diff'), 'utf8') : undefined;
}

/** Every verdict in the given report.json files, by instance id. */
function evaluations(reports: readonly string[]): Map<string, Evaluation[]> {
  const byInstance = new Map<string, Evaluation[]>();
  for (const file of reports) {
    let report: { resolved_ids?: unknown; submitted_ids?: unknown };
    try {
      report = JSON.parse(readFileSync(file, 'utf8')) as typeof report;
    } catch (err) {
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `--eval-report ${file} is not a readable report.json: ${(err as Error).message}`,
        { field: '--eval-report' },
      );
    }
    if (!Array.isArray(report.resolved_ids))
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `--eval-report ${file} has no resolved_ids list (is it fixwright eval's report.json?)`,
        { field: '--eval-report' },
      );
    const resolved = new Set(report.resolved_ids.filter((id): id is string => typeof id === 'string'));
    const submitted = Array.isArray(report.submitted_ids)
      ? report.submitted_ids.filter((id): id is string => typeof id === 'string')
      : [...resolved];
    for (const id of new Set([...submitted, ...resolved])) {
      const list = byInstance.get(id) ?? [];
      list.push({ patch: evaluatedPatch(file, id), resolved: resolved.has(id) });
      byInstance.set(id, list);
    }
  }
  return byInstance;
}

/**
 * The official verdict on one run: only an evaluation of the patch this run returned speaks for it.
 * Runs of one instance differ (another model, another try), so a verdict on one run's patch says
 * nothing about another's. Evaluations of the same patch that disagree (a flaky test) do not pass it.
 */
function officialVerdict(
  run: RunTrace,
  verdicts: ReadonlyMap<string, Evaluation[]>,
): { passed: boolean; problem?: string } {
  const all = run.instanceId === undefined ? [] : (verdicts.get(run.instanceId) ?? []);
  if (all.length === 0) return { passed: false };
  const own = all.filter((e) => e.patch !== undefined && e.patch.trim() === run.patch.trim());
  if (own.length === 0) {
    return {
      passed: false,
      problem: `${run.instanceId} was evaluated, but not this run's patch (no instances/<id>/ beside the report holds it); the run counts as not passing`,
    };
  }
  if (own.some((e) => e.resolved) && !own.every((e) => e.resolved))
    return {
      passed: false,
      problem: `the evaluations of this run's patch disagree (resolved in some reports, not in others); the run counts as not passing`,
    };
  return { passed: own[0]!.resolved };
}

/** Every string inside a row: shapes are matched on them, since in JSON text a key that starts a line follows the escape `\n` and loses its word boundary. */
const rowStrings = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : Array.isArray(value)
      ? value.flatMap(rowStrings)
      : value && typeof value === 'object'
        ? Object.values(value).flatMap(rowStrings)
        : [];

/**
 * Repositories held out for validation: taken in a fixed order (by a hash of the name, so the
 * choice does not follow alphabetical accidents) until they hold `fraction` of the rows. No
 * repository is in both splits; with one repository, everything is training data.
 */
export function validationRepos(counts: ReadonlyMap<string, number>, fraction: number): Set<string> {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const held = new Set<string>();
  if (counts.size < 2 || fraction <= 0) return held;
  const order = [...counts.keys()].sort((a, b) =>
    createHash('sha256').update(a).digest('hex').localeCompare(createHash('sha256').update(b).digest('hex')),
  );
  let taken = 0;
  for (const repo of order) {
    if (taken >= fraction * total || held.size === counts.size - 1) break;
    held.add(repo);
    taken += counts.get(repo)!;
  }
  return held;
}

/**
 * Exports training pairs from trajectories: reads every run (bad lines and unfinished runs are
 * reported and skipped), decides which runs passed (the official verdict with --eval-report, else
 * the agent's), builds the pairs, drops duplicates, pairs over the token budget and any pair
 * holding a secret or a benchmark's gold patch or test patch, splits by repository, and writes the
 * JSONL and its card through temporary files renamed at the end, so nothing is left half-written.
 */
export function exportTrainingData(options: ExportOptions): {
  card: ExportCard;
  problems: TraceProblem[];
  notes: TraceProblem[];
} {
  const files = trajectoryFiles(options.trajectories);
  const problems: TraceProblem[] = [];
  // What is said of runs that were read (how they were judged, how a file was split): not problems, nothing skipped.
  const notes: TraceProblem[] = [];
  const runs: RunTrace[] = [];
  for (const file of files) {
    options.onFile?.(file);
    const { runs: read, problems: found, notes: said } = readTrajectory(file);
    problems.push(...found);
    notes.push(...said);
    runs.push(...read);
  }
  if (runs.length === 0)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `no usable run in ${files.length} trajectory file(s): ${problems
        .slice(0, 3)
        .map((p) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`)
        .join('; ')}`,
      { field: '--trajectories' },
    );

  const official = options.evalReports.length > 0 ? evaluations(options.evalReports) : undefined;
  const verdicts = new Map<RunTrace, boolean>();
  for (const run of runs) {
    if (!official) verdicts.set(run, run.status === 'resolved');
    else {
      const verdict = officialVerdict(run, official);
      verdicts.set(run, verdict.passed);
      if (verdict.problem) notes.push({ file: run.file, message: verdict.problem });
    }
  }
  const passed = (run: RunTrace) => verdicts.get(run) === true;
  // Losing candidates that give no pair, counted for the card.
  const skipped = noneSkipped();
  const pairs: Array<SftPair | DpoPair> = runs.flatMap((run): Array<SftPair | DpoPair> => {
    const made = options.format === 'sft' ? sftCandidates(run, passed(run)) : dpoCandidates(run, passed(run));
    for (const reason of Object.keys(skipped) as Array<keyof typeof skipped>) skipped[reason] += made.skipped[reason];
    return made.pairs;
  });

  const dropped = { duplicate: 0, over_budget: 0, secret: 0, gold_leak: 0 };
  const gold = (options.goldRows ?? [])
    .flatMap((r) => [r.patch, r.test_patch])
    .map((t) => t?.trim())
    .filter((t): t is string => Boolean(t && t.length >= 40));
  const seen = new Set<string>();
  const kept: Array<{ repo: string; make: (split: string) => Record<string, unknown> }> = [];
  for (const pair of pairs) {
    const make = (split: string) =>
      pair.kind === 'preference' ? dpoRow(pair, split) : sftRow(pair, options.style, split);
    const probe = make('');
    // The same exchange from two runs is one pair: the key is the conversation, not where it came from.
    const content =
      pair.kind === 'preference' ? [pair.prompt, pair.chosen, pair.rejected] : [pair.messages, pair.response];
    const key = createHash('sha256')
      .update(JSON.stringify([pair.kind, content]))
      .digest('hex');
    if (seen.has(key)) {
      dropped.duplicate += 1;
      continue;
    }
    seen.add(key);
    const plain = JSON.stringify(Object.values(probe));
    if (
      options.secrets.some((s) => s && plain.includes(JSON.stringify(s).slice(1, -1))) ||
      rowStrings(probe).some((text) => KEY_SHAPES.some((re) => re.test(text)))
    )
      dropped.secret += 1;
    else if (gold.some((g) => plain.includes(JSON.stringify(g).slice(1, -1)))) dropped.gold_leak += 1;
    else if (rowTokens(probe) > options.maxTokens) dropped.over_budget += 1;
    else kept.push({ repo: pair.repo, make });
  }

  const perRepo = new Map<string, number>();
  for (const k of kept) perRepo.set(k.repo, (perRepo.get(k.repo) ?? 0) + 1);
  const held = validationRepos(perRepo, options.valFraction);
  const rows = kept.map((k) => k.make(held.has(k.repo) ? 'validation' : 'train'));

  const tmp = `${options.out}.tmp-${process.pid}`;
  writeFileSync(tmp, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const card = writeCard(options.out, rows, {
    format: options.format,
    style: options.format === 'sft' ? options.style : 'trl-conversational',
    trust: official
      ? 'fixwright eval (official rule): only runs whose own patch an evaluation resolved count as passing'
      : "the agent's own verdict (its reproduction test went from failing to passing, no regressions)",
    eval_reports: options.evalReports,
    max_tokens: options.maxTokens,
    val_fraction: options.valFraction,
    files_read: files.length,
    runs: runs.length,
    runs_passing: runs.filter(passed).length,
    problems: problems.length,
    dropped,
    candidates: {
      traces: runs.reduce((n, run) => n + run.traces.length, 0),
      runs_sampled: runs.filter((run) => run.traces.some((t) => t.candidate > 1)).length,
      skipped,
      other_prompt: rows.filter((row) => row.same_prompt === false).length,
    },
  });
  renameSync(tmp, options.out);
  return { card, problems, notes };
}
