import { describe, expect, it } from 'vitest';
import { maxCostFlag, maxCostHelp, MODEL_RPM_HELP, modelGateFlag, modelRpmFlag } from '../../cli/flags.js';
import { MODEL_RPM_LIMIT } from '../../core/config.js';
import { runCli } from '../helpers/cli.js';

describe('--model-rpm (solve and bench): a whole number from 1 to MODEL_RPM_LIMIT', () => {
  it('is undefined (no gate) when not given and takes whole numbers in range', () => {
    expect(modelRpmFlag(undefined)).toBeUndefined();
    expect(modelGateFlag(undefined)).toBeUndefined();
    expect(modelRpmFlag('1')).toBe(1);
    expect(modelRpmFlag(String(MODEL_RPM_LIMIT))).toBe(MODEL_RPM_LIMIT);
    expect(typeof modelGateFlag('60')).toBe('function');
  });

  it('refuses 0, one past the maximum, fractions, words and the empty string, naming the flag and the range', () => {
    for (const bad of ['0', String(MODEL_RPM_LIMIT + 1), '2.5', 'sixty', '', '-1']) {
      expect(() => modelRpmFlag(bad), bad).toThrow(
        `--model-rpm must be a whole number from 1 to ${MODEL_RPM_LIMIT} (got ${bad})`,
      );
      expect(() => modelGateFlag(bad), bad).toThrow(/--model-rpm must be/);
    }
  });

  it('--max-cost takes dollars >= 0 and refuses the rest', () => {
    expect(maxCostFlag(undefined)).toBeUndefined();
    expect(maxCostFlag('0')).toBe(0);
    expect(maxCostFlag('1.25')).toBe(1.25);
    for (const bad of ['-1', 'lots'])
      expect(() => maxCostFlag(bad), bad).toThrow('--max-cost must be a number of dollars >= 0');
  });

  it('solve refuses a bad --model-rpm in one line, exit 2, before touching the repository or model', async () => {
    const solve = await runCli([
      'solve',
      '--repo',
      '/nonexistent-fw-repo',
      '--issue',
      'x',
      '--model',
      'm',
      '--model-rpm',
      '0',
    ]);
    expect(solve.code).toBe(2);
    expect(solve.stderr).toBe(`fixwright: --model-rpm must be a whole number from 1 to ${MODEL_RPM_LIMIT} (got 0)\n`);
    const fraction = await runCli([
      'solve',
      '--repo',
      '/nonexistent-fw-repo',
      '--issue',
      'x',
      '--model',
      'm',
      '--model-rpm',
      '2.5',
    ]);
    expect(fraction.code).toBe(2);
    expect(fraction.stderr).toBe(
      `fixwright: --model-rpm must be a whole number from 1 to ${MODEL_RPM_LIMIT} (got 2.5)\n`,
    );
  });

  it('solve and bench share the help of --model-rpm and say that --max-cost bounds the whole spend, samples included', async () => {
    for (const command of ['solve', 'bench']) {
      const help = (await runCli([command, '--help'])).stdout.replace(/\s+/g, ' ');
      expect(help, command).toContain(`--model-rpm <n> ${MODEL_RPM_HELP}`);
      expect(help, command).toMatch(
        /--max-cost <usd> cap in USD on .* whole model spend, samples included .*the worst case of the calls in flight .*3 chars\/token \+ an answer of FIXWRIGHT_MAX_TOKENS/,
      );
    }
    expect(maxCostHelp("the run's")).toMatch(/^cap in USD on the run's whole model spend, samples included/);
  });
});
