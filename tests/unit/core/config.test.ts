import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../core/config.js';
import { FixwrightError } from '../../../core/errors.js';
import { parseByteSize } from '../../../core/units.js';

describe('loadSettings', () => {
  it('gives sane defaults', () => {
    const s = loadSettings({});
    expect(s.sandbox.image).toBe('fixwright-sandbox:base');
    expect(s.sandbox.allow).toEqual(['python', 'python3', 'pytest', 'git']);
    expect(s.sandbox.memoryBytes).toBe(2 * 1024 ** 3);
    expect(s.sandbox.concurrency).toBe(2);
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.sandbox)).toBe(true);
  });

  it('reads the environment, and flags win over it', () => {
    const env = {
      FIXWRIGHT_SANDBOX_MEMORY: '512m',
      FIXWRIGHT_SANDBOX_ALLOW: 'python3, make',
      FIXWRIGHT_SANDBOX_TIMEOUT: '30',
    };
    const s = loadSettings(env, { sandbox: { timeoutSeconds: '5' } });
    expect(s.sandbox.memoryBytes).toBe(512 * 1024 ** 2);
    expect(s.sandbox.allow).toEqual(['python3', 'make']);
    expect(s.sandbox.timeoutSeconds).toBe(5);
  });

  it('lists every problem, named by the flag or variable that was set', () => {
    let error: unknown;
    try {
      loadSettings(
        { FIXWRIGHT_SANDBOX_MEMORY: 'lots', FIXWRIGHT_SANDBOX_CPUS: '0' },
        { sandbox: { timeoutSeconds: '-1' } },
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FixwrightError);
    const message = (error as FixwrightError).message;
    expect((error as FixwrightError).code).toBe('FW_ERR_CONFIG');
    expect(message).toMatch(/FIXWRIGHT_SANDBOX_MEMORY: sandbox memory must be a size/);
    expect(message).toMatch(/FIXWRIGHT_SANDBOX_CPUS: sandbox cpus must be greater than 0/);
    expect(message).toMatch(/--timeout: sandbox timeout must be greater than 0/);
  });

  it('reads the warm pool size (unset: the concurrency) and refuses a blank or fractional one', () => {
    expect(loadSettings({}).sandbox.warm).toBeUndefined();
    expect(loadSettings({ FIXWRIGHT_SANDBOX_WARM: '0' }).sandbox.warm).toBe(0);
    expect(loadSettings({ FIXWRIGHT_SANDBOX_WARM: '8', FIXWRIGHT_SANDBOX_WARM_MEMORY: '256m' }).sandbox).toMatchObject({
      warm: 8,
      warmMemoryBytes: 256 * 1024 ** 2,
    });
    for (const bad of [' ', '1.5', '-1', '65', 'lots']) {
      expect(() => loadSettings({ FIXWRIGHT_SANDBOX_WARM: bad })).toThrow(
        /FIXWRIGHT_SANDBOX_WARM: the warm pool size must be a whole number from 0 to 64/,
      );
    }
    expect(() => loadSettings({ FIXWRIGHT_SANDBOX_WARM_MEMORY: '0' })).toThrow(/FIXWRIGHT_SANDBOX_WARM_MEMORY/);
  });

  it('reads price overrides as JSON and refuses malformed ones', () => {
    expect(
      loadSettings({ FIXWRIGHT_PRICES: '{"local": {"inputPerMTok": 0.5, "outputPerMTok": 1}}' }).models.prices,
    ).toEqual({ local: { inputPerMTok: 0.5, outputPerMTok: 1 } });
    expect(() => loadSettings({ FIXWRIGHT_PRICES: '{"m": 3}' })).toThrow(/FIXWRIGHT_PRICES: must be JSON like/);
  });

  it('refuses allowlist entries that are paths', () => {
    expect(() => loadSettings({ FIXWRIGHT_SANDBOX_ALLOW: '/bin/sh' })).toThrow(/bare names/);
  });
});

describe('parseByteSize', () => {
  it.each([
    ['512m', 512 * 1024 ** 2],
    ['2g', 2 * 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['100', 100],
    ['64MiB', 64 * 1024 ** 2],
  ])('%s', (text, bytes) => expect(parseByteSize(text)).toBe(bytes));
  it.each(['', 'lots', '-1', '0', '2x'])('rejects %j', (text) => expect(parseByteSize(text)).toBeUndefined());
});

describe("FIXWRIGHT_MODEL_RPM (the service's model rate limit, per process)", () => {
  it('is unset by default and read as a whole number of requests a minute', () => {
    expect(loadSettings({}).service.modelRpm).toBeUndefined();
    expect(loadSettings({ FIXWRIGHT_MODEL_RPM: '' }).service.modelRpm).toBeUndefined();
    expect(loadSettings({ FIXWRIGHT_MODEL_RPM: '60' }).service.modelRpm).toBe(60);
  });

  it.each(['0', '-3', '2.5', 'lots', '100001'])('refuses %j, naming the variable', (value) => {
    expect(() => loadSettings({ FIXWRIGHT_MODEL_RPM: value })).toThrow(/invalid settings: FIXWRIGHT_MODEL_RPM: /);
  });
});
