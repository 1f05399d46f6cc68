import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * The trainers' torch-free parts (tests/training/py): rows over --max-len dropped and counted,
 * gradient checkpointing on by default and off by a flag, --merge for DPO, DPO length filtering.
 * The standard library's unittest runs them, so they need no install.
 */
describe('training/*.py without a GPU', () => {
  it('their data functions and flags hold (python3 -m unittest)', () => {
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-v', '-s', 'tests/training/py'], {
      encoding: 'utf8',
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toMatch(/Ran \d+ tests/);
    expect(r.stderr).toMatch(/\nOK/);
  });
});
