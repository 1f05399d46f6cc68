import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { loadSettings, FixwrightError, startScriptedOpenAIServer } from '../../core/index.js';
import { createLogger } from '../../core/logger.js';
import { createDockerClient } from '../../sandbox/index.js';
import { AnalysisContainer, inverseDsl, modelAccess, readCorpus, runEditBench } from '../../quickfix/index.js';
import { wholeNumber } from '../flags.js';
import { makeOutputDir } from '../output-dir.js';

interface BenchEditsFlags {
  corpus: string;
  n: string;
  seed: string;
  out: string;
  tiers: string;
  minLines: string;
  model?: string;
  baseUrl?: string;
}

/** `fixwright edit-bench`: the synthetic-bug benchmark of quick fixes, per bug kind and per tier. */
export function registerEditBenchCommand(program: Command): void {
  program
    .command('edit-bench')
    .alias('bench-edits')
    .description(
      'inject one reported bug per case into clean Python files, ask each quick-fix tier for a fix, ' +
        'and report fix rate, validity, exact restores, minimality and latency (JSON + Markdown)',
    )
    .requiredOption(
      '--corpus <dir>',
      'clean Python files: a directory, a git repository, or DIR/<owner>/<name> repositories (read at HEAD from git objects)',
    )
    .option('--n <n>', 'bugs to inject (spread over the six kinds)', '200')
    .option('--seed <s>', 'random seed: the same seed injects the same bugs', '1')
    .option('--out <dir>', 'where report.json and report.md go', 'bench-edits-out')
    .option('--tiers <list>', 'tiers to measure: rule, model, or both', 'rule,model')
    .option(
      '--min-lines <n>',
      'only files of at least this many lines (the latency of large files, where pyflakes and parsing cost most)',
      '0',
    )
    .option(
      '--model <name>',
      "a real model for the model tier (default: the scripted model, which answers each case with its inverse mutation to measure fixwright's own overhead)",
    )
    .option('--base-url <url>', 'OpenAI-compatible endpoint of --model (default OPENAI_BASE_URL)')
    .action(async (flags: BenchEditsFlags) => {
      const settings = loadSettings(process.env);
      const n = wholeNumber(flags.n, '--n', 1, 100_000);
      const seed = wholeNumber(flags.seed, '--seed', 0, 2 ** 31 - 1);
      const tiers = flags.tiers.split(',').map((t) => t.trim());
      if (tiers.length === 0 || tiers.some((t) => t !== 'rule' && t !== 'model'))
        throw new FixwrightError('FW_ERR_BAD_INPUT', `--tiers takes rule, model or rule,model (got ${flags.tiers})`, {
          field: '--tiers',
        });
      const minLines = wholeNumber(flags.minLines, '--min-lines', 0, 1_000_000);
      const files = (await readCorpus(resolve(flags.corpus))).filter(
        (f) => f.text.replace(/\n$/, '').split('\n').length >= minLines,
      );
      if (files.length === 0)
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `--corpus ${flags.corpus} holds no usable file of ${minLines} lines or more`,
          { field: '--min-lines' },
        );
      const logger = createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel);
      const analyser = new AnalysisContainer({
        docker: createDockerClient(settings.dockerHost),
        image: settings.sandbox.image,
        logger,
      });
      const injecting = new SingleBar({
        format: 'injecting {bar} {value}/{total}',
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
      });
      const fixing = new SingleBar({
        format: 'edit-bench {bar} {value}/{total} | {eta_formatted} left',
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
      });
      try {
        injecting.start(n, 0);
        let fixingStarted = false;
        const report = await runEditBench({
          files,
          corpus: flags.corpus,
          n,
          seed,
          analyser,
          tiers: tiers as Array<'rule' | 'model'>,
          modelLabel: flags.model ?? 'scripted',
          modelFor: async (benchCase) => {
            if (flags.model)
              return {
                access: modelAccess(settings, {
                  model: flags.model,
                  ...(flags.baseUrl ? { baseURL: flags.baseUrl } : {}),
                }),
                release: async () => undefined,
              };
            // One scripted server per case, answering that case's inverse mutation over real HTTP.
            const server = await startScriptedOpenAIServer({ replies: [inverseDsl(benchCase)] });
            return {
              access: modelAccess(settings, { model: 'scripted', baseURL: server.url, apiKey: 'scripted' }),
              release: () => server.close(),
            };
          },
          onInjected: (done) => injecting.update(done),
          onCase: (done, total) => {
            if (!fixingStarted) {
              injecting.stop();
              fixing.start(total, 0);
              fixingStarted = true;
            }
            fixing.update(done);
          },
        });
        injecting.stop();
        fixing.stop();
        const out = makeOutputDir(flags.out);
        writeFileSync(join(out, 'report.json'), `${JSON.stringify(report.json, null, 2)}\n`);
        writeFileSync(join(out, 'report.md'), report.markdown);
        process.stdout.write(report.markdown);
        process.stderr.write(
          `fixwright edit-bench: ${report.json.cases.length} cases from ${report.json.files} files; ${join(out, 'report.json')} and report.md\n`,
        );
      } finally {
        injecting.stop();
        fixing.stop();
        await analyser.close();
      }
    });
}
