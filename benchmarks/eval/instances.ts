import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { z } from 'zod';
import { FixwrightError } from '../../core/index.js';
import { loadJsonlRows, swebenchRowSchema, type RowError } from '../dataset.js';

/** A list of test ids as the official dataset stores it: a JSON-encoded string (or, leniently, an array). */
const testList = z.union([z.array(z.string()), z.string()]).transform((value, ctx) => {
  if (Array.isArray(value)) return value;
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed) && parsed.every((t) => typeof t === 'string')) return parsed as string[];
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: 'must be a JSON list of test ids' });
  return z.NEVER;
});

/** The fields evaluation needs on top of localisation's. */
export const evalRowSchema = swebenchRowSchema.extend({
  test_patch: z.string(),
  FAIL_TO_PASS: testList,
  PASS_TO_PASS: testList,
  version: z.union([z.string(), z.number()]).transform(String).optional(),
});

/** A row the harness can evaluate. */
export type EvalRow = z.output<typeof evalRowSchema>;

/**
 * Data files of a split inside a directory: a Hugging Face hub cache
 * (`datasets--owner--name/snapshots/<rev>/data/<split>-*.parquet`), a `datasets` library cache
 * (`owner___name/default/0.0.0/<hash>/<name>-<split>[-NNNNN-of-NNNNN].arrow`), or any folder of them.
 */
export function datasetFilesOf(dir: string, split: string): string[] {
  const found: string[] = [];
  const arrowName = new RegExp(`-${split}(-\\d+-of-\\d+)?\\.arrow$`);
  const walk = (d: string, depth: number) => {
    if (depth > 6) return;
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory() && entry.name !== 'blobs') walk(path, depth + 1);
      else if (!(entry.isFile() || entry.isSymbolicLink())) continue;
      else if (entry.name.endsWith('.parquet') && basename(entry.name).startsWith(`${split}-`)) found.push(path);
      else if (arrowName.test(entry.name)) found.push(path);
    }
  };
  walk(dir, 0);
  // Several snapshots or cache hashes: the newest holds the current revision; keep one file per shard name.
  const byName = new Map<string, string>();
  for (const path of found.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)) byName.set(basename(path), path);
  return [...byName.values()].sort();
}

/** Arrow values as JSON ones: 64-bit integers and dates become what a JSONL row would hold. */
function plainValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  return value;
}

/** Rows of an Arrow file as the `datasets` library writes it (IPC stream or file format). */
function readArrowRows(file: string): unknown[] {
  try {
    const table = tableFromIPC(readFileSync(file));
    return table
      .toArray()
      .map((row: { toJSON(): Record<string, unknown> }) =>
        Object.fromEntries(Object.entries(row.toJSON()).map(([k, v]) => [k, plainValue(v)])),
      );
  } catch (err) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read Arrow file ${file}: ${(err as Error).message}`, {
      field: '--dataset',
    });
  }
}

async function readDataFiles(files: readonly string[]): Promise<unknown[]> {
  const rows: unknown[] = [];
  for (const file of files) {
    if (file.endsWith('.arrow')) {
      rows.push(...readArrowRows(file));
      continue;
    }
    try {
      rows.push(...(await parquetReadObjects({ file: await asyncBufferFromFile(file) })));
    } catch (err) {
      throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read parquet ${file}: ${(err as Error).message}`, {
        field: '--dataset',
      });
    }
  }
  return rows;
}

/**
 * Reads rows from JSONL, a JSON array, a parquet or Arrow file, or a directory of them (a Hugging
 * Face hub or `datasets` cache such as `princeton-nlp/SWE-bench_Lite`'s, split `test` or `dev`), validating
 * each for evaluation; bad rows are reported by line (or row number) and skipped.
 */
export async function loadEvalRows(path: string, split = 'test'): Promise<{ rows: EvalRow[]; errors: RowError[] }> {
  let rows: unknown[];
  const errors: RowError[] = [];
  if (!existsSync(path))
    throw new FixwrightError('FW_ERR_BAD_INPUT', `dataset ${path} does not exist`, { field: '--dataset' });
  if (statSync(path).isDirectory()) {
    const files = datasetFilesOf(path, split);
    if (files.length === 0)
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `no ${split}-*.parquet or *-${split}.arrow files under ${path} (a Hugging Face hub or datasets cache directory, or a folder of such files)`,
        { field: '--dataset' },
      );
    rows = await readDataFiles(files);
  } else if (path.endsWith('.parquet') || path.endsWith('.arrow')) {
    rows = await readDataFiles([path]);
  } else if (path.endsWith('.json')) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      if (!Array.isArray(parsed)) throw new Error('the file holds no JSON array of rows');
      rows = parsed;
    } catch (err) {
      throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read dataset ${path}: ${(err as Error).message}`, {
        field: '--dataset',
      });
    }
  } else {
    const loaded = loadJsonlRows(path);
    rows = loaded.rows;
    errors.push(...loaded.errors);
  }
  const good: EvalRow[] = [];
  rows.forEach((raw, i) => {
    const parsed = evalRowSchema.safeParse(raw);
    if (parsed.success) good.push(parsed.data);
    else
      errors.push({
        line: i + 1,
        message:
          `${(raw as { instance_id?: string })?.instance_id ?? '(row)'}` +
          `: ${parsed.error.issues.map((x) => `${x.path.join('.') || '(row)'}: ${x.message}`).join('; ')}`,
      });
  });
  return { rows: good, errors };
}

/** One prediction in the official format. */
export const predictionSchema = z.object({
  instance_id: z.string().min(1),
  model_name_or_path: z.string().default('unknown'),
  model_patch: z
    .string()
    .nullable()
    .transform((p) => p ?? ''),
});
export type Prediction = z.output<typeof predictionSchema>;

/** Reads predictions (JSONL or a JSON array/object keyed by id), or makes them from the rows' gold patches. */
export function loadPredictions(
  source: string,
  rows: readonly EvalRow[],
): { predictions: Map<string, Prediction>; errors: RowError[] } {
  const predictions = new Map<string, Prediction>();
  const errors: RowError[] = [];
  if (source === 'gold') {
    for (const row of rows)
      predictions.set(row.instance_id, {
        instance_id: row.instance_id,
        model_name_or_path: 'gold',
        model_patch: row.patch,
      });
    return { predictions, errors };
  }
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read predictions ${source}: ${(err as Error).message}`, {
      field: '--predictions',
    });
  }
  let items: Array<{ line: number; raw: unknown }>;
  if (source.endsWith('.json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new FixwrightError('FW_ERR_BAD_INPUT', `predictions ${source} are not JSON: ${(err as Error).message}`, {
        field: '--predictions',
      });
    }
    const list = Array.isArray(parsed) ? parsed : Object.values(parsed as object);
    items = list.map((raw, i) => ({ line: i + 1, raw }));
  } else {
    items = [];
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        items.push({ line: i + 1, raw: JSON.parse(line) });
      } catch (err) {
        errors.push({ line: i + 1, message: `not JSON (${(err as Error).message})` });
      }
    });
  }
  for (const { line, raw } of items) {
    const parsed = predictionSchema.safeParse(raw);
    if (!parsed.success)
      errors.push({
        line,
        message: parsed.error.issues.map((x) => `${x.path.join('.') || '(row)'}: ${x.message}`).join('; '),
      });
    else {
      // The official harness keys predictions by id, so the last one of an id counts.
      if (predictions.has(parsed.data.instance_id))
        errors.push({
          line,
          message: `${parsed.data.instance_id} predicted again; this later one counts, as in the official harness`,
        });
      predictions.set(parsed.data.instance_id, parsed.data);
    }
  }
  return { predictions, errors };
}

/** The rows a run asks for: `--instances`, `--only-repos`, `--limit`; unknown ids are an error. */
export function selectRows(
  all: readonly EvalRow[],
  filters: { instances?: string; onlyRepos?: string; limit?: string },
): EvalRow[] {
  const list = (text: string | undefined) =>
    (text ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const wanted = new Set(list(filters.instances));
  const repos = new Set(list(filters.onlyRepos));
  const unknown = [...wanted].filter((id) => !all.some((r) => r.instance_id === id));
  if (unknown.length)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--instances names ids not in the dataset: ${unknown.slice(0, 5).join(', ')}`,
      { field: '--instances' },
    );
  const limit = filters.limit === undefined ? undefined : Number(filters.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
    throw new FixwrightError('FW_ERR_BAD_INPUT', '--limit must be a positive whole number', { field: '--limit' });
  const rows = all.filter(
    (r) => (wanted.size === 0 || wanted.has(r.instance_id)) && (repos.size === 0 || repos.has(r.repo)),
  );
  return limit === undefined ? rows : rows.slice(0, limit);
}
