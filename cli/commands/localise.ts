import type { Command } from 'commander';
import { loadSettings, FixwrightError } from '../../core/index.js';
import { localiseDataset } from './localise-dataset.js';
import { type LocaliseFlags, localiseParts, positiveInt } from './localise-flags.js';
import { localiseIssue, writeHistoryRows } from './localise-issue.js';

export { DEFAULT_CALIBRATION } from './localise-issue.js';

/** Runs the mode the flags ask for: a dataset's evaluation, rows from a repository's history, or one issue's ranking. */
async function runLocalise(flags: LocaliseFlags, setExit: (code: number) => void): Promise<void> {
  const settings = loadSettings(process.env);
  const parts = localiseParts(flags, settings);
  if (flags.dataset) return localiseDataset(flags.dataset, flags, parts, setExit);
  if (!flags.repo)
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'pass --repo PATH and --issue TEXT (or --dataset FILE --repos DIR)', {
      field: '--repo',
    });
  if (flags.historyRows) {
    writeHistoryRows(
      flags.repo,
      flags.historyRows,
      flags.commit,
      flags.limit ? positiveInt(flags.limit, '--limit') : 100,
    );
    return;
  }
  return localiseIssue(flags.repo, flags, parts.localiser, settings);
}

/** `fixwright localise`: rank a repository's files for an issue, or evaluate on a dataset. */
export function registerLocaliseCommand(program: Command, setExit: (code: number) => void = () => undefined): void {
  program
    .command('localise')
    .description(
      'rank the files an issue is about (one issue with --repo/--issue, or a SWE-bench dataset with --dataset/--repos)',
    )
    .option('--repo <path>', 'repository: a checkout, a bare git directory, or any directory of Python sources')
    .option('--commit <sha>', 'read the repository at this commit (from git objects; no checkout)')
    .option(
      '--issue <text>',
      'issue text, @FILE (@- for standard input), or https://github.com/OWNER/NAME/issues/N; its first line is read as the title',
    )
    .option('--top <n>', 'how many files to print', '20')
    .option('--json [file]', 'JSON output: printed, or written to FILE (with --dataset a FILE is required)')
    .option(
      '--calibration <file>',
      'conformal calibration to cut the ranking with (default: the shipped one); with --dataset: cut every row with it instead of cross-fitting on the rows',
    )
    .option(
      '--history-rows <file>',
      "with --repo: write SWE-bench-format rows made from the repository's past fix commits (message " +
        'as the issue, parent as the base) to FILE, for --dataset on your own repository',
    )
    .option('--dataset <file>', 'SWE-bench-format JSONL to evaluate on')
    .option('--repos <dir>', 'directory holding DIR/<owner>/<name> git repositories (bare or not)')
    .option('--alpha <a>', 'conformal miscoverage level', '0.1')
    .option('--folds <k>', 'cross-fitting folds for the conformal evaluation', '5')
    .option(
      '--method <m>',
      "conformal score: ratio (one minus a file's score relative to the top file's, plus a rank " +
        "penalty; the default with the learned fusion), prob (one minus a file's probability), aps " +
        '(cumulative mass; the default with RRF), raps (aps plus a rank penalty) or rank; the penalty of ratio/raps is chosen on the calibration rows',
    )
    .option(
      '--fusion <which>',
      'how the signals are fused: learned (the shipped model, the default), rrf (hand-set weights, --weights) or a model FILE',
    )
    .option(
      '--fit-fusion <file>',
      'with --dataset (several files comma-separated): fit the learned fusion with repository-wise ' +
        'cross-validation, print it against RRF out of fold, and write the model to FILE (--calibration-out: its out-of-fold calibration)',
    )
    .option('--limit <n>', 'evaluate only the first N rows')
    .option('--instances <ids>', 'evaluate only these instance ids (comma-separated)')
    .option('--calibration-out <file>', 'with --dataset: save a calibration fitted on all evaluated rows')
    .option('--include-tests', 'rank test files too (they are left out by default)')
    .option('--no-cache', 'do not read or write the on-disk index cache')
    .option(
      '--weights <list>',
      'RRF weight per signal (bm25, embeddings, evidence, pagerank, symbols, identifiers, history, ' +
        'cochange, title, title_symbols), e.g. bm25=1,history=0 (0 switches one off)',
    )
    .option(
      '--ablate',
      'with --dataset: per signal R@1/5/10 and MRR with everything on but it, it alone, and the ' +
        'defaults with it toggled (each row ranked once, re-fused per configuration)',
    )
    .option('--rrf-k <k>', 'RRF constant k (default 10; smaller trusts the top of each list more)')
    .option(
      '--embeddings <kind>',
      'dense signal: lsi (offline, fitted on the repository), api (FIXWRIGHT_EMBEDDINGS_MODEL at ' +
        'OPENAI_BASE_URL) or none (default: api when FIXWRIGHT_EMBEDDINGS_MODEL is set, else lsi)',
    )
    .action((flags: LocaliseFlags) => runLocalise(flags, setExit));
}
