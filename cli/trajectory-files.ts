import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { trajectoryFiles } from '../training/index.js';

/** How much of a file is read to find its first line (a trajectory's first event is a short `status`). */
const HEAD_BYTES = 1 << 20;

/**
 * True unless the file's first line is JSON that is not an event (`task_id`, `seq`, `type`):
 * a bench run's predictions.jsonl or an earlier export. A line that is not JSON at all is kept,
 * so a damaged trajectory is still read and its problems reported.
 */
export function mayBeTrajectory(file: string): boolean {
  const buffer = Buffer.alloc(HEAD_BYTES);
  let length: number;
  const fd = openSync(file, 'r');
  try {
    length = readSync(fd, buffer, 0, HEAD_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  const first = buffer
    .subarray(0, length)
    .toString('utf8')
    .split('\n')
    .find((l) => l.trim());
  if (first === undefined) return true;
  let value: unknown;
  try {
    value = JSON.parse(first);
  } catch {
    return true;
  }
  return typeof value === 'object' && value !== null && 'task_id' in value && 'seq' in value && 'type' in value;
}

/**
 * The trajectories under --trajectories: a file named there is read whatever it holds (so a wrong
 * one is reported), while JSONL files found by searching a folder that are plainly something else
 * are passed over quietly.
 */
export function trajectoriesToRead(paths: readonly string[]): string[] {
  const named = new Set(paths.map((p) => resolve(p)));
  return trajectoryFiles(paths).filter((file) => named.has(resolve(file)) || mayBeTrajectory(file));
}
