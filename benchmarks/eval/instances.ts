import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { FixwrightError } from '../../core/errors.js';
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

/** Reads rows from JSONL or a JSON array, validating each for evaluation; bad rows are reported by line (or index). */
export function loadEvalRows(path: string): { rows: EvalRow[]; errors: RowError[] } {
  let rows: unknown[];
  const errors: RowError[] = [];
  if (path.endsWith('.json')) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      if (!Array.isArray(parsed)) throw new Error('the file holds no JSON array of rows');
      rows = parsed;
    } catch (err) {
      throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read dataset ${path}: ${(err as Error).message}`, { field: '--dataset' });
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
    else errors.push({ line: i + 1, message: `${(raw as { instance_id?: string })?.instance_id ?? '(row)'}: ${parsed.error.issues.map((x) => `${x.path.join('.') || '(row)'}: ${x.message}`).join('; ')}` });
  });
  return { rows: good, errors };
}

/** One prediction in the official format. */
export const predictionSchema = z.object({
  instance_id: z.string().min(1),
  model_name_or_path: z.string().default('unknown'),
  model_patch: z.string().nullable().transform((p) => p ?? ''),
});
export type Prediction = z.output<typeof predictionSchema>;

/** Reads predictions (JSONL or a JSON array/object keyed by id), or makes them from the rows' gold patches. */
export function loadPredictions(source: string, rows: readonly EvalRow[]): { predictions: Map<string, Prediction>; errors: RowError[] } {
  const predictions = new Map<string, Prediction>();
  const errors: RowError[] = [];
  if (source === 'gold') {
    for (const row of rows) predictions.set(row.instance_id, { instance_id: row.instance_id, model_name_or_path: 'gold', model_patch: row.patch });
    return { predictions, errors };
  }
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read predictions ${source}: ${(err as Error).message}`, { field: '--predictions' });
  }
  let items: Array<{ line: number; raw: unknown }>;
  if (source.endsWith('.json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new FixwrightError('FW_ERR_BAD_INPUT', `predictions ${source} are not JSON: ${(err as Error).message}`, { field: '--predictions' });
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
    if (!parsed.success) errors.push({ line, message: parsed.error.issues.map((x) => `${x.path.join('.') || '(row)'}: ${x.message}`).join('; ') });
    else if (predictions.has(parsed.data.instance_id)) errors.push({ line, message: `${parsed.data.instance_id} predicted twice; the first one counts` });
    else predictions.set(parsed.data.instance_id, parsed.data);
  }
  return { predictions, errors };
}
