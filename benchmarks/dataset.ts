import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { FixwrightError } from '../core/index.js';

/** A repository as `owner/name` (it becomes a path under --repos: no `.` or `..` parts). */
export const repoNameSchema = z
  .string()
  .regex(/^[\w.-]+\/[\w.-]+$/, 'must be owner/name')
  .refine((r) => !r.split('/').some((p) => p === '.' || p === '..'), 'must be owner/name (no . or .. parts)');

/** A commit as a hexadecimal object name. */
export const commitSchema = z.string().regex(/^[0-9a-f]{7,40}$/, 'must be a commit sha');

/** The fields of a SWE-bench row that localisation needs; other official fields pass through. */
export const swebenchRowSchema = z
  .object({
    instance_id: z.string().min(1),
    repo: repoNameSchema,
    base_commit: commitSchema,
    problem_statement: z.string(),
    patch: z.string(),
  })
  .passthrough();

/** One validated SWE-bench-format row. */
export type SwebenchRow = z.output<typeof swebenchRowSchema>;

/** A row that could not be used, with its line number and why. */
export interface RowError {
  line: number;
  message: string;
}

/** Reads SWE-bench rows from JSONL, keeping good rows and reporting bad ones by line. */
export function loadJsonlRows(path: string): { rows: SwebenchRow[]; errors: RowError[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read dataset ${path}: ${(err as Error).message}`, {
      field: 'dataset',
    });
  }
  const rows: SwebenchRow[] = [];
  const errors: RowError[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      errors.push({ line: i + 1, message: `not JSON (${(err as Error).message})` });
      return;
    }
    const parsed = swebenchRowSchema.safeParse(raw);
    if (parsed.success) rows.push(parsed.data);
    else
      errors.push({
        line: i + 1,
        message: parsed.error.issues.map((x) => `${x.path.join('.') || '(row)'}: ${x.message}`).join('; '),
      });
  });
  return { rows, errors };
}

/** The files a unified diff changes (its gold files, for a dataset's `patch`). */
export function changedFiles(patch: string): string[] {
  const files = new Set<string>();
  for (const m of patch.matchAll(/^diff --git a\/(\S+) b\/(\S+)$/gm)) files.add(m[2]!);
  return [...files];
}
