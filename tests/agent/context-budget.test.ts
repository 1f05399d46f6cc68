import { describe, expect, it } from 'vitest';
import { contextBudgetChars, DEFAULT_CONTEXT_CHARS } from '../../agent/context-budget.js';
import { loadSettings } from '../../core/config.js';

describe('the code shown to the model fits its context window', () => {
  it('shows the default amount when the window is not given', () => {
    expect(contextBudgetChars(loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x' }).models, 'issue')).toBe(DEFAULT_CONTEXT_CHARS);
  });

  it('shrinks with a small window and a long issue, never below zero', () => {
    const models = loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x', FIXWRIGHT_MODEL_CONTEXT: '16384' }).models;
    const short = contextBudgetChars(models, '');
    expect(short).toBeLessThan(DEFAULT_CONTEXT_CHARS);
    expect(short).toBeGreaterThan(20_000);
    expect(contextBudgetChars(models, 'x'.repeat(9000))).toBe(short - 9000);
    expect(contextBudgetChars(models, 'x'.repeat(100_000))).toBe(0);
  });

  it('refuses a window that leaves no room for a prompt after the answer', () => {
    expect(() => loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x', FIXWRIGHT_MODEL_CONTEXT: '6000' })).toThrow(
      /FIXWRIGHT_MODEL_CONTEXT \(6000\) leaves no room for a prompt after the answer's FIXWRIGHT_MAX_TOKENS \(4096\): it must be at least 8192/,
    );
    expect(() => loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x', FIXWRIGHT_MODEL_CONTEXT: 'big' })).toThrow(/invalid settings: FIXWRIGHT_MODEL_CONTEXT must be a number/);
  });
});
