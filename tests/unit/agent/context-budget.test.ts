import { describe, expect, it } from 'vitest';
import { contextBudgetChars, DEFAULT_CONTEXT_CHARS, fitIssue } from '../../../agent/context-budget.js';
import { loadSettings } from '../../../core/config.js';

describe('the code shown to the model fits its context window', () => {
  it('shows the default amount when the window is not given', () => {
    expect(contextBudgetChars(loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x' }).models, 'issue')).toBe(
      DEFAULT_CONTEXT_CHARS,
    );
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
    expect(() => loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x', FIXWRIGHT_MODEL_CONTEXT: '8192' })).toThrow(
      /FIXWRIGHT_MODEL_CONTEXT \(8192\) leaves no room for a prompt after the answer's FIXWRIGHT_MAX_TOKENS \(4096\): it must be at least 10240/,
    );
    expect(() => loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x', FIXWRIGHT_MODEL_CONTEXT: 'big' })).toThrow(
      /invalid settings: FIXWRIGHT_MODEL_CONTEXT: must be a number/,
    );
  });

  it('leaves room for code at the smallest window allowed, and cuts an issue too long for the window', () => {
    const smallest = loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x', FIXWRIGHT_MODEL_CONTEXT: '10240' }).models;
    expect(contextBudgetChars(smallest, fitIssue(smallest, 'x'.repeat(50_000)))).toBeGreaterThan(2000);
    const models = loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x', FIXWRIGHT_MODEL_CONTEXT: '16384' }).models;
    const issue = `Summary line\n${'middle '.repeat(6000)}\nTraceback: the last line`;
    const fitted = fitIssue(models, issue);
    expect(fitted.length).toBeLessThan(issue.length);
    expect(fitted).toMatch(/^Summary line/);
    expect(fitted).toMatch(/Traceback: the last line$/);
    expect(fitted).toMatch(/characters of the issue cut to fit the model's context window \(FIXWRIGHT_MODEL_CONTEXT\)/);
    // Prompt and answer fit: code at 3 characters a token, the issue, 4096 for instructions, the answer.
    expect(contextBudgetChars(models, fitted) / 3 + fitted.length / 3 + 4096 + models.maxTokens).toBeLessThanOrEqual(
      16384,
    );
    expect(contextBudgetChars(models, fitted)).toBeGreaterThan(10_000);
    // Without a window, nothing is cut.
    expect(fitIssue(loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/x' }).models, issue)).toBe(issue);
  });
});
