import { dirname, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Option, type Command } from 'commander';
import { loadEvalRows } from '../../benchmarks/eval/instances.js';
import { loadSettings, FixwrightError } from '../../core/index.js';
import { cardStem, exportTrainingData, type SftStyle } from '../../training/index.js';
import { wholeNumber } from '../flags.js';
import { makeOutputDir } from '../output-dir.js';
import { trajectoriesToRead } from '../trajectory-files.js';

interface ExportFlags {
  trajectories: string[];
  evalReport?: string[];
  format: 'sft' | 'dpo';
  style: SftStyle;
  maxTokens: string;
  valFraction: string;
  dataset?: string;
  out: string;
}

/** `fixwright export`: trajectories → SFT or DPO pairs, with a data card. */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description(
      'turn the trajectories that solve and bench write into fine-tuning data (SFT or DPO pairs, JSONL) with a data card',
    )
    .requiredOption(
      '--trajectories <paths...>',
      'trajectory files, or directories searched for *.jsonl (a solve --out directory, a bench run)',
    )
    .option(
      '--eval-report <files...>',
      'fixwright eval report.json files (each in its eval --out folder): a run counts as passing ' +
        "only when an evaluation of its own patch resolved it (else the agent's own verdict)",
    )
    .addOption(
      new Option(
        '--format <format>',
        'sft (positive, negative-with-context, reflection pairs) or dpo (chosen/rejected edits)',
      )
        .choices(['sft', 'dpo'])
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--style <style>', 'how SFT rows are written').choices(['chatml', 'alpaca']).default('chatml'),
    )
    .option('--max-tokens <n>', 'drop pairs over this many tokens (estimated as characters / 4)', '8192')
    .option('--val-fraction <x>', 'share of the rows held out for validation, whole repositories at a time', '0.1')
    .option(
      '--dataset <file>',
      'SWE-bench rows whose gold patch and test patch must never appear in a pair (pairs holding them are dropped)',
    )
    .requiredOption('--out <file>', 'the JSONL to write (FILE.card.json and FILE.card.md go beside it)')
    .action(async (flags: ExportFlags) => {
      const settings = loadSettings(process.env);
      const maxTokens = wholeNumber(flags.maxTokens, '--max-tokens', 64, 1_000_000);
      const valFraction = Number(flags.valFraction);
      if (!(valFraction >= 0 && valFraction < 1))
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `--val-fraction must be a number from 0 to below 1 (got ${flags.valFraction})`,
          { field: '--val-fraction' },
        );
      if (!flags.out.endsWith('.jsonl'))
        throw new FixwrightError('FW_ERR_BAD_INPUT', `--out must name a .jsonl file (got ${flags.out})`, {
          field: '--out',
        });
      const goldRows = flags.dataset ? (await loadEvalRows(flags.dataset)).rows : undefined;
      const files = trajectoriesToRead(flags.trajectories);
      if (files.length === 0)
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `no trajectories under ${flags.trajectories.join(', ')}: point --trajectories at a solve --out directory or a bench run`,
          { field: '--trajectories' },
        );
      const bar =
        files.length > 20
          ? new SingleBar({
              format: 'export {bar} {value}/{total} files',
              stream: process.stderr,
              clearOnComplete: true,
              hideCursor: true,
            })
          : undefined;
      bar?.start(files.length, 0);
      const out = resolve(flags.out);
      makeOutputDir(dirname(out), '--out');
      try {
        const { card, problems, notes } = exportTrainingData({
          trajectories: files,
          evalReports: flags.evalReport ?? [],
          format: flags.format,
          style: flags.style,
          maxTokens,
          valFraction,
          goldRows,
          secrets: [settings.models.apiKey, settings.github.token, ...settings.service.apiKeys].filter(
            (s): s is string => Boolean(s),
          ),
          out,
          onFile: () => bar?.increment(),
        });
        bar?.stop();
        for (const p of problems)
          process.stderr.write(`fixwright: ${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}\n`);
        for (const n of notes) process.stderr.write(`fixwright: note: ${n.file}: ${n.message}\n`);
        const kinds =
          Object.entries(card.per_kind)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ') || 'none';
        const d = card.dropped;
        process.stdout.write(
          `${card.rows} ${flags.format} rows ` +
            `(${kinds}) ` +
            `from ${card.runs} runs (${card.runs_passing} passing; trust: ${flags.evalReport?.length ? 'fixwright eval' : "the agent's verdict"}); ` +
            `splits ${
              Object.entries(card.splits)
                .map(([s, n]) => `${s} ${n}`)
                .join(', ') || 'none'
            }; tokens median ${card.tokens.median}, max ${card.tokens.max}; ` +
            `dropped ${d.duplicate} ` +
            `duplicate, ${d.over_budget} ` +
            `over ${maxTokens} tokens, ${d.secret} with a key, ${d.gold_leak} with gold data; ${problems.length} problem(s) skipped\n` +
            `wrote ${out}, ${cardStem(out)}.card.json, ${cardStem(out)}.card.md\n`,
        );
      } finally {
        bar?.stop();
      }
    });
}
