import { describe, expect, it } from 'vitest';
import { DEFAULT_SAMPLES, MAX_SAMPLES, type AttemptRecord, type CandidateRecord } from '../../agent/index.js';
import { attemptEntry, selectionLine } from '../../cli/commands/solve.js';
import { samplesFlag, SAMPLES_HELP } from '../../cli/flags.js';
import { runCli } from '../helpers/cli.js';

const candidate = (n: number): CandidateRecord => ({
  candidate: n,
  temperature: 0.4,
  context: 'top_file',
  votes: 1,
  testsPassed: 0,
  regressions: [],
  score: 0,
  tokens: { input: 0, output: 0 },
  costUsd: 0,
});
const attempt = (extra: Partial<AttemptRecord>): AttemptRecord =>
  ({ attempt: 2, tests: [], score: 1, ...extra }) as AttemptRecord;

describe('--samples: a whole number from 1 to MAX_SAMPLES', () => {
  it('defaults to DEFAULT_SAMPLES and takes every whole number in range', () => {
    expect(samplesFlag(undefined)).toBe(DEFAULT_SAMPLES);
    for (let n = 1; n <= MAX_SAMPLES; n++) expect(samplesFlag(String(n))).toBe(n);
  });

  it('refuses 0, one past the maximum, fractions, words and the empty string, naming the flag and the range', () => {
    for (const bad of ['0', String(MAX_SAMPLES + 1), '2.5', 'four', '', '-1']) {
      expect(() => samplesFlag(bad), bad).toThrow(
        `--samples must be a whole number from 1 to ${MAX_SAMPLES} (got ${bad})`,
      );
    }
  });

  it('the help says what each candidate costs', () => {
    expect(SAMPLES_HELP).toMatch(/each candidate is one more fix call per attempt/i);
  });

  it('solve and bench refuse a bad --samples in one line, exit 2, before touching the repository, dataset or model', async () => {
    const solve = await runCli([
      'solve',
      '--repo',
      '/nonexistent-fw-repo',
      '--issue',
      'x',
      '--model',
      'm',
      '--samples',
      '0',
    ]);
    expect(solve.code).toBe(2);
    expect(solve.stderr).toBe(`fixwright: --samples must be a whole number from 1 to ${MAX_SAMPLES} (got 0)\n`);
    const bench = await runCli([
      'bench',
      '--dataset',
      '/nonexistent-fw-dataset.jsonl',
      '--model',
      'm',
      '--out',
      '/nonexistent-fw-out',
      '--samples',
      String(MAX_SAMPLES + 1),
    ]);
    expect(bench.code).toBe(2);
    expect(bench.stderr).toBe(
      `fixwright: --samples must be a whole number from 1 to ${MAX_SAMPLES} (got ${MAX_SAMPLES + 1})\n`,
    );
    const help = await runCli(['bench', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--samples <n> .*one more fix call per attempt/);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/bm25,embeddings,pagerank,conformal,reflection,selection/);
  });
});

describe("solve's result.json attempts and its selection lines", () => {
  it('an attempt of several candidates records the winner, the count drawn and why; its line says so', () => {
    const a = attempt({
      candidate: 3,
      candidates: [candidate(1), candidate(2), candidate(3), candidate(4)],
      selection: {
        winner: 3,
        reason: 'the only candidate passing 2 of 2 valid judge tests',
        ranking: [3, 1, 2, 4],
        judges: [],
      },
    });
    expect(attemptEntry(a)).toEqual({
      attempt: 2,
      candidate: 3,
      candidates: 4,
      selection: { winner: 3, reason: 'the only candidate passing 2 of 2 valid judge tests' },
      failure: null,
      message: null,
      score: 1,
    });
    expect(selectionLine(a)).toBe(
      'attempt 2: candidate 3 of 4 won: the only candidate passing 2 of 2 valid judge tests',
    );
  });

  it('an attempt where none won says no candidate, with the reason, and records candidate null', () => {
    const a = attempt({
      candidates: [candidate(1), candidate(2)],
      selection: { reason: 'every candidate failed to apply', ranking: [1, 2], judges: [] },
      failure: { category: 'search_not_found', message: 'no match' },
    });
    expect(attemptEntry(a)).toMatchObject({
      candidate: null,
      candidates: 2,
      selection: { winner: null, reason: 'every candidate failed to apply' },
      failure: 'search_not_found',
    });
    expect(selectionLine(a)).toBe('attempt 2: no candidate of 2 won: every candidate failed to apply');
  });

  it('one candidate (or a record from before sampling) is candidate 1 of 1 and prints no line', () => {
    expect(attemptEntry(attempt({}))).toMatchObject({ candidate: 1, candidates: 1, selection: null });
    expect(selectionLine(attempt({}))).toBeUndefined();
    const one = attempt({
      candidate: 1,
      candidates: [candidate(1)],
      selection: { winner: 1, reason: 'the only candidate', ranking: [1], judges: [] },
    });
    expect(attemptEntry(one)).toMatchObject({ candidate: 1, candidates: 1, selection: { winner: 1 } });
    expect(selectionLine(one)).toBeUndefined();
  });
});
