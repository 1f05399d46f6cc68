import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { instanceFileName } from '../../core/instance-name.js';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { evaluateInstance, type EvalContext, type InstanceResult } from './evaluate-instance.js';
import type { EvalRow, Prediction } from './instances.js';
import { buildReport, reportMarkdown, type BenchFigures, type EvalReport } from './report.js';


function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/**
 * Evaluates every row that has a prediction, `workers` at a time, keeping each instance's result
 * and log under `out/instances/<id>/` as it finishes; a rerun with the same `out` skips what is
 * done (errored instances are tried again). Writes report.json and report.md at the end.
 */
export async function runEvaluation(
  rows: readonly EvalRow[],
  predictions: ReadonlyMap<string, Prediction>,
  ctx: EvalContext,
  options: { out: string; workers: number; dataset: string; predictions: string; bench?: BenchFigures; onDone?: (result: InstanceResult, fromCache: boolean) => void },
): Promise<EvalReport> {
  mkdirSync(join(options.out, 'instances'), { recursive: true });
  const limit = pLimit(options.workers);
  const results = await Promise.all(
    rows
      .filter((row) => predictions.has(row.instance_id))
      .map((row) =>
        limit(async () => {
          const dir = join(options.out, 'instances', instanceFileName(row.instance_id));
          const file = join(dir, 'result.json');
          const prediction = predictions.get(row.instance_id)!;
          if (existsSync(file)) {
            const cached = JSON.parse(readFileSync(file, 'utf8')) as InstanceResult & { model_patch?: string };
            // Reuse a finished verdict for the same patch; environment and sandbox failures are retried.
            if (cached.model_patch === prediction.model_patch && cached.status !== 'env_error') {
              options.onDone?.(cached, true);
              return { ...cached, log: '' };
            }
          }
          const result = await evaluateInstance(row, prediction, ctx);
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, 'test.log'), result.log);
          writeFileSync(join(dir, 'patch.diff'), prediction.model_patch);
          const { log: _log, ...kept } = result;
          writeAtomic(file, `${JSON.stringify({ ...kept, model_patch: prediction.model_patch }, null, 1)}\n`);
          options.onDone?.(result, false);
          return result;
        }),
      ),
  );
  const report = buildReport(results, { dataset: options.dataset, predictions: options.predictions, bench: options.bench });
  writeAtomic(join(options.out, 'report.json'), `${JSON.stringify(report, null, 1)}\n`);
  writeAtomic(join(options.out, 'report.md'), reportMarkdown(report));
  return report;
}
