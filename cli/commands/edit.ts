import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { toUnifiedDiff } from '../../agent/index.js';
import { loadSettings, FixwrightError } from '../../core/index.js';
import { createLogger } from '../../core/logger.js';
import { createQuickFixService, editsFromResponse } from '../../quickfix/index.js';
import { wholeNumber } from '../flags.js';

interface EditFlags {
  line: string;
  endLine?: string;
  diagnostic: string[];
  instruction?: string;
  model?: string;
  baseUrl?: string;
  write?: boolean;
  json?: boolean;
  imports: boolean;
}

/** `fixwright edit FILE --line N`: a quick fix from the terminal, printed as a diff. */
export function registerEditCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('edit')
    .description(
      'quick fix for one spot of a Python file (the POST /v1/edit pipeline: rule tier, then model tier, every edit verified); prints the diff',
    )
    .argument('<file>', 'the Python file')
    .requiredOption('--line <n>', 'the line to fix; the region is the definition around it (or --end-line)')
    .option('--end-line <n>', 'last line the edits may touch (with --line as the first)')
    .option(
      '--diagnostic <msg>',
      'a diagnostic to fix, e.g. "NameError: name \'itm\' is not defined" (repeatable; default: what pyflakes reports in the region)',
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option('--instruction <text>', 'what to do, e.g. "fix errors only"')
    .option('--model <name>', 'chat model for the model tier (default FIXWRIGHT_MODEL)')
    .option('--base-url <url>', 'OpenAI-compatible endpoint (default OPENAI_BASE_URL)')
    .option('--no-imports', 'edit only the region: no import added at the top of the file')
    .option('--write', 'apply the edits to the file')
    .option('--json', 'print the whole answer as JSON instead of the diff')
    .action(async (file: string, flags: EditFlags) => {
      const settings = loadSettings(process.env);
      const path = resolve(file);
      let code: string;
      try {
        code = readFileSync(path, 'utf8');
      } catch (err) {
        const why =
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'no such file'
            : (err as NodeJS.ErrnoException).code === 'EISDIR'
              ? 'it is a folder'
              : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
        throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read ${file}: ${why}`, { field: 'file' });
      }
      const lines = code.split('\n').length - (code.endsWith('\n') ? 1 : 0);
      // Checked here so the message names the flag, not the request field it becomes.
      const line = wholeNumber(flags.line, '--line', 1, 10_000_000);
      if (line > Math.max(1, lines))
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `--line ${line} is past the end of ${file} (${lines} line${lines === 1 ? '' : 's'})`,
          { field: '--line' },
        );
      const quickfix = createQuickFixService(settings, {
        logger: createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel),
        cache: false,
        model: { ...(flags.model ? { model: flags.model } : {}), ...(flags.baseUrl ? { baseURL: flags.baseUrl } : {}) },
      });
      try {
        const region = flags.endLine
          ? { start: line, end: wholeNumber(flags.endLine, '--end-line', line, 10_000_000) }
          : quickfix.regionAround('python', code, line);
        const answer = await quickfix.edit({
          language: 'python',
          code,
          file_path: relative(process.cwd(), path),
          start_line: region.start,
          end_line: region.end,
          diagnostics: flags.diagnostic.map((message) => ({ line, message })),
          ...(flags.instruction ? { instruction: flags.instruction } : {}),
          allow_imports: flags.imports,
        });
        const after = editsFromResponse(code, answer);
        if (flags.json) process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
        else if (after !== undefined)
          process.stdout.write(toUnifiedDiff([{ path: relative(process.cwd(), path), before: code, after }]));
        if (flags.write && after !== undefined) writeFileSync(path, after);
        const v = answer.verification;
        const outside = answer.outside_region?.length
          ? `; outside the region: ${answer.outside_region.map((e) => `line ${e.start_line} (import)`).join(', ')}`
          : '';
        const written = flags.write && after !== undefined ? `; written to ${file}` : '';
        process.stderr.write(
          `fixwright edit: ${answer.status} ` +
            `(${answer.tier}${answer.cached_tier ? `/${answer.cached_tier}` : ''} tier, ` +
            `lines ${region.start}-${region.end}, ${answer.timings_ms.total.toFixed(0)} ms); ` +
            `fixed: ${v.fixed}; ${answer.reason ?? v.reason ?? ''}${outside}${written}\n`,
        );
        // 1 when nothing verified could be done, so scripts and editors can tell.
        setExitCode(answer.status === 'no_edits' ? 1 : 0);
      } finally {
        await quickfix.close();
      }
    });
}
