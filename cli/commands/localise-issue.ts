import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { type Settings, FixwrightError, assetPath } from '../../core/index.js';
import { historyRows } from '../../benchmarks/index.js';
import {
  type FusedFile,
  gitDirOf,
  type Localiser,
  type RankedSymbol,
  rankFunctions,
  type RepoIndex,
  type RepoSnapshot,
  type SnapshotSource,
} from '../../localisation/index.js';
import { type Calibration, calibrationSummary, loadCalibration, predictionSet } from '../../uncertainty/index.js';
import { readIssueArg } from '../issue-input.js';
import { makeOutputDir } from '../output-dir.js';
import { type LocaliseFlags, positiveInt } from './localise-flags.js';

/** Functions shown under each file of the conformal set. */
const FUNCTIONS_SHOWN = 5;

/** Unreadable files named one by one before the rest are counted. */
const UNREADABLE_SHOWN = 10;

/** The calibration shipped with fixwright, fitted on the tuning rows. */
export const DEFAULT_CALIBRATION = 'uncertainty/calibration.json';

/** One issue's ranking over a repository, with its conformal set when a calibration for this ranking exists. */
interface IssueRanking {
  index: RepoIndex;
  files: FusedFile[];
  /** The calibration found (explicit or shipped), even one fitted on another ranking. */
  found: Calibration | undefined;
  /** The calibration the set was cut with: `found` when it belongs to this ranking. */
  calibration: Calibration | undefined;
  set: string[] | undefined;
  /** The set's files, each with its functions most related to the issue. */
  functions: Map<string, RankedSymbol[]>;
  skipped: RepoSnapshot['skipped'];
}

function sourceFor(repo: string, commit: string | undefined): SnapshotSource {
  if (!existsSync(repo))
    throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repository not found: ${repo}`, { field: '--repo' });
  const gitDir = gitDirOf(repo);
  if (commit) {
    if (!gitDir)
      throw new FixwrightError('FW_ERR_BAD_INPUT', `--commit needs a git repository, and ${repo} is not one`, {
        field: '--commit',
      });
    return { kind: 'git', gitDir, commit };
  }
  // A bare repository has no working tree: read its HEAD.
  return gitDir === repo ? { kind: 'git', gitDir, commit: 'HEAD' } : { kind: 'dir', path: repo };
}

function defaultCalibration(explicit: string | undefined): Calibration | undefined {
  if (explicit) return loadCalibration(explicit);
  const shipped = assetPath(DEFAULT_CALIBRATION);
  return existsSync(shipped) ? loadCalibration(shipped) : undefined;
}

/**
 * `--history-rows`: rows from the repository's past fixes, named `owner/name` after its last two
 * path parts, so `--repos` the folder two levels up finds it again.
 */
export function writeHistoryRows(repoPath: string, out: string, until: string | undefined, limit: number): void {
  const dir = resolve(repoPath);
  const gitDir = gitDirOf(dir);
  if (!gitDir)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--history-rows needs a git repository, and ${repoPath} is not one`, {
      field: '--repo',
    });
  // The folder's own name, `.git` suffix and all, so `--repos` finds it again under DIR/<owner>/<name>.
  const repo = `${basename(dirname(dir))}/${basename(dir)}`;
  makeOutputDir(dirname(resolve(out)), '--history-rows');
  const rows = historyRows({ gitDir, repo, until, limit });
  writeFileSync(out, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  process.stdout.write(
    `wrote ${rows.length} row(s) from past fix commits of ${repo} to ${out} (evaluate: fixwright localise --dataset ${out} --repos ${dirname(dirname(dir))})\n`,
  );
}

/** Vendored and oversized files are left out by design; a file that could not be read or decoded is worth saying. */
function reportUnreadable(skipped: RepoSnapshot['skipped']): void {
  const unreadable = skipped.filter((s) => ['binary', 'undecodable', 'unreadable'].includes(s.reason));
  for (const s of unreadable.slice(0, UNREADABLE_SHOWN))
    process.stderr.write(`fixwright: skipped ${s.path} (${s.reason})\n`);
  if (unreadable.length > UNREADABLE_SHOWN)
    process.stderr.write(
      `fixwright: skipped ${unreadable.length - UNREADABLE_SHOWN} more file(s) that could not be read or decoded\n`,
    );
}

/**
 * The calibration to cut with. Another ranking's calibration cuts at a meaningless place (a
 * probability threshold on RRF scores takes every file): no set, as in the agent, rather than a wrong one.
 */
function calibrationFor(found: Calibration | undefined, rankerName: string): Calibration | undefined {
  const calibration = found?.ranker === rankerName ? found : undefined;
  if (found && !calibration) {
    process.stderr.write(
      `fixwright: warning: the calibration was fitted on ` +
        `ranker ${found.ranker}, ` +
        `not ${rankerName}, so no conformal set is cut (fit one for this ranking: fixwright localise --dataset … --calibration-out FILE)\n`,
    );
  }
  return calibration;
}

/** Indexes the repository and ranks its files for the issue, cutting the conformal set where it can. */
async function rankIssue(
  localiser: Localiser,
  flags: LocaliseFlags,
  repo: string,
  issue: string,
): Promise<IssueRanking> {
  const index = await localiser.index(sourceFor(repo, flags.commit));
  const skipped = localiser.lastTiming?.skipped ?? [];
  reportUnreadable(skipped);
  const { files } = await localiser.rank(index, issue);
  const found = defaultCalibration(flags.calibration);
  const calibration = calibrationFor(found, localiser.rankerName);
  // Candidates no signal found follow at score 0: an infinite q̂ then yields every candidate.
  const ranked = new Set(files.map((f) => f.path));
  const all = [
    ...files,
    ...index.summaries.filter((s) => !ranked.has(s.path)).map((s) => ({ path: s.path, score: 0 })),
  ];
  const set = calibration ? predictionSet(all, calibration.qhat, calibration.method, calibration.params) : undefined;
  const functions = new Map(rankFunctions(index, set ?? [], issue, FUNCTIONS_SHOWN).map((f) => [f.path, f.functions]));
  return { index, files, found, calibration, set, functions, skipped };
}

/** The `--json` document: the top files, the set and its functions, the calibration, the skipped files. */
function rankingJson(ranking: IssueRanking, top: number): string {
  const { files, set, calibration, index, functions } = ranking;
  const out = {
    files: files.slice(0, top).map((f, i) => ({
      rank: i + 1,
      path: f.path,
      score: f.score,
      ranks: f.ranks,
      in_set: set?.includes(f.path) ?? null,
    })),
    set: set ?? null,
    calibration: calibration ? calibrationSummary(calibration) : null,
    indexed_files: index.summaries.length,
    set_functions: set
      ? Object.fromEntries(
          [...functions].map(([path, fns]) => [
            path,
            fns.map((f) => ({
              qualname: f.qualname,
              kind: f.kind,
              start_line: f.startLine,
              end_line: f.endLine,
              score: f.score,
            })),
          ]),
        )
      : null,
    skipped: ranking.skipped,
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** The ranking as text: the top files (`*` marks the set's), each set file's functions, then what the set means. */
function printRanking(ranking: IssueRanking, top: number): void {
  const { files, set, calibration, index, functions } = ranking;
  if (files.length === 0) {
    process.stdout.write(`no file matched (indexed ${index.summaries.length} Python files)\n`);
    return;
  }
  files.slice(0, top).forEach((f, i) => {
    const ranks = Object.entries(f.ranks)
      .map(([s, r]) => `${s}=${r}`)
      .join(' ');
    process.stdout.write(
      `${String(i + 1).padStart(3)}  ${set?.includes(f.path) ? '*' : ' '} ${f.score.toFixed(4)}  ${f.path}  (${ranks})\n`,
    );
    for (const fn of functions.get(f.path) ?? [])
      process.stdout.write(
        `          ${fn.qualname} (lines ${fn.startLine}-${fn.endLine}, score ${fn.score.toFixed(2)})\n`,
      );
  });
  process.stdout.write(
    set
      ? `* conformal ` +
          `set: ${set.length} file(s), holding every file to change with probability >= ${1 - calibration!.alpha} (calibrated on ${calibration!.n} instances)\n`
      : ranking.found
        ? 'no conformal set: the calibration belongs to another ranking (see the warning above)\n'
        : 'no calibration found: pass --calibration FILE (fixwright localise --dataset … --calibration-out FILE makes one)\n',
  );
}

/** `fixwright localise --repo PATH --issue TEXT`: rank one repository's files for one issue and print (or write) them. */
export async function localiseIssue(
  repo: string,
  flags: LocaliseFlags,
  localiser: Localiser,
  settings: Settings,
): Promise<void> {
  const issue = await readIssueArg(flags.issue, settings);
  const top = positiveInt(flags.top, '--top');
  const ranking = await rankIssue(localiser, flags, repo, issue);
  if (!flags.json) return printRanking(ranking, top);
  const text = rankingJson(ranking, top);
  // --json FILE writes the file, as it does with --dataset; a bare --json prints.
  if (typeof flags.json === 'string') {
    makeOutputDir(dirname(resolve(flags.json)), '--json');
    writeFileSync(flags.json, text);
  } else process.stdout.write(text);
}
