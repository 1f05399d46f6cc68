import { afterAll, describe, expect, it } from 'vitest';
import type { AgentDeps } from '../../agent/deps.js';
import { EventLog } from '../../agent/events.js';
import { condense, contextNode } from '../../agent/nodes/context.js';
import type { AgentStateType, ContextCut } from '../../agent/state.js';
import { rankSymbols, summarisePython } from '../../localisation/index.js';
import { buildRepoIndex } from '../../localisation/repo-index.js';
import { readDirSnapshot } from '../../localisation/snapshot.js';
import { tokenize } from '../../localisation/tokenize.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const SOURCE = [
  'import os',
  '',
  'class Session:',
  '    def request(self, method, url):',
  '        """Send a request."""',
  '        return self.send(method, url)',
  '',
  '    def merge_environment_settings(self, proxies):',
  '        """Merge proxies from the environment."""',
  '        return proxies or os.environ.get("HTTP_PROXY")',
  '',
  'def unrelated_helper():',
  '    return 42',
  '',
].join('\n');

/** A long module: twenty similar methods, one of which the issue names; too long to show whole under a small budget. */
function bigStore(): string {
  const methods = Array.from({ length: 20 }, (_, i) =>
    [
      `    def field_${i}(self, value):`,
      `        """Store field ${i} of a record."""`,
      `        cleaned = str(value).strip()`,
      ...Array.from({ length: 8 }, (_, k) => `        cleaned = cleaned.replace("${k}", "${k}")`),
      `        self.values[${i}] = cleaned`,
      `        return cleaned`,
      '',
    ].join('\n'),
  );
  const quota = [
    '    def quota_left(self, account):',
    '        """How much of its quota an account has left."""',
    '        used = self.usage.get(account, 0)',
    '        return self.limit - used',
    '',
  ].join('\n');
  return [
    'import json',
    'LIMIT = 10',
    '',
    '',
    'class RecordStore:',
    '    """Keeps records."""',
    '',
    ...methods.slice(0, 10),
    quota,
    ...methods.slice(10),
    '',
    'def dump(store):',
    '    return json.dumps(store.values)',
    '',
  ].join('\n');
}

afterAll(removeRepos);

describe('condense', () => {
  const summary = summarisePython('sessions.py', SOURCE);
  const ranked = (issue: string) => rankSymbols(summary, new Set(tokenize(issue)), SOURCE);
  it('shows the symbols most likely to change in full, with line numbers, and outlines the rest', () => {
    const { body, full } = condense(summary, SOURCE, ranked('merge_environment_settings ignores proxies'), 10_000, 1);
    expect(full).toEqual(['Session.merge_environment_settings']);
    expect(body).toContain('    8     def merge_environment_settings(self, proxies):');
    expect(body).toContain('   10         return proxies or os.environ.get("HTTP_PROXY")');
    expect(body).toMatch(/^ {4}3 class Session … \(to line 10\)$/m);
    expect(body).toMatch(/^ {4}4 {5}def request … \(to line 6\)$/m);
    expect(body).toMatch(/^ {3}12 def unrelated_helper … \(to line 13\)$/m);
  });
  it('keeps to its budget, falling back to outlines', () => {
    const { body, full } = condense(summary, SOURCE, ranked('merge environment proxies'), 10);
    expect(full).toEqual([]);
    expect(body).not.toContain('return proxies');
    expect(body).toMatch(/def merge_environment_settings … \(to line 10\)/);
  });
  it('goes on past a <module> held in the top five with nothing matched', () => {
    const text = [
      'import os',
      '',
      ...Array.from({ length: 7 }, (_, i) => `def parse_${i}(value):\n    return value.parse()\n`),
    ].join('\n');
    const parsers = summarisePython('p.py', text);
    const order = rankSymbols(parsers, new Set(tokenize('parse fails on empty value')), text);
    expect(order[4]).toMatchObject({ qualname: '<module>', score: 0 });
    const { body, full } = condense(parsers, text, order, 10_000);
    expect(full).toHaveLength(7);
    expect(full).not.toContain('<module>');
    expect(body).not.toContain('import os');
  });

  it('shows module-level lines (imports) only when <module> itself is chosen', () => {
    const { body, full } = condense(summary, SOURCE, ranked('os.environ is read for proxies'), 10_000);
    expect(full).toContain('<module>');
    expect(body).toMatch(/^ {4}1 import os$/m);
    expect(body.split('\n').some((l) => /^ {4}2 ?$/.test(l))).toBe(false); // blank module lines are left out
  });
});

describe('context node', () => {
  const store = bigStore();
  const repo = makeRepo({
    'store.py': store,
    'report.py': 'from store import dump\n\n\ndef report(store):\n    return dump(store)\n',
  });
  const index = buildRepoIndex(readDirSnapshot(repo));
  const issue = 'RecordStore.quota_left() returns a negative number when usage exceeds the limit';

  async function run(budget: number, samples = 1) {
    const events = new EventLog('t-context');
    const deps = {
      run: { index, tokens: { input: 0, output: 0 }, costUsd: 0 },
      events,
      samples,
      contextBudget: budget,
    } as unknown as AgentDeps;
    const state = {
      issue,
      files: [
        { path: 'store.py', score: 1, inSet: true },
        { path: 'report.py', score: 0.5, inSet: true },
      ],
    } as unknown as AgentStateType;
    const update = await contextNode(state, deps);
    return {
      update: update as { codeContext: string; contexts: Partial<Record<ContextCut, string>> },
      event: events.events.find((e) => e.type === 'context')!,
    };
  }

  it('condenses a large file to the method the issue names, outlining the others, and names it first', async () => {
    expect(store.length).toBeGreaterThan(4000);
    const { update, event } = await run(3000);
    const ctx = update.codeContext;
    const at = store.split('\n').findIndex((l) => l.includes('def quota_left')) + 1;
    expect(ctx).toContain('store.py (condensed: the parts most likely to change in full, the rest outlined)');
    expect(ctx).toMatch(
      new RegExp(
        `store\\.py \\(condensed[^\\n]*\\nMost likely to change: RecordStore\\.quota_left \\(lines ${at}-${at + 3}\\)`,
      ),
    );
    expect(ctx).toContain(`${String(at).padStart(5)}     def quota_left(self, account):`);
    expect(ctx).toContain('        return self.limit - used');
    // The budget runs out before the methods that only share "store" and "record" with the issue.
    expect(ctx).toMatch(/^ +\d+ {5}def field_19 … \(to line \d+\)$/m);
    expect(ctx).not.toContain('self.values[19] = cleaned');
    const files = event.data.files as Array<{
      path: string;
      mode: string;
      likely_to_change: string[];
      shown_in_full?: string[];
    }>;
    expect(files[0]).toMatchObject({ path: 'store.py', mode: 'condensed' });
    expect(files[0]!.likely_to_change[0]).toBe('RecordStore.quota_left');
    expect(files[0]!.shown_in_full![0]).toBe('RecordStore.quota_left');
    expect(files[0]!.shown_in_full).not.toContain('RecordStore.field_19');
    expect(event.data.chars).toBe(ctx.length);
  });

  it('shows files whole when they fit, still naming their likely functions', async () => {
    const { update, event } = await run(60_000);
    expect(update.codeContext).toMatch(/^store\.py\nMost likely to change: RecordStore\.quota_left \(lines \d+-\d+\)/);
    expect(update.codeContext).toContain('self.values[0] = cleaned');
    const files = event.data.files as Array<{
      path: string;
      mode: string;
      likely_to_change: string[];
      shown_in_full?: string[];
    }>;
    expect(files.map((f) => [f.path, f.mode])).toEqual([
      ['store.py', 'whole'],
      ['report.py', 'whole'],
    ]);
    expect(files[0]!.shown_in_full).toBeUndefined();
  });

  it('keeps the whole prompt context, headers and line numbers included, within the budget', async () => {
    for (const budget of [900, 3000, 8000, 60_000]) {
      const { update, event } = await run(budget, 3);
      expect(update.codeContext.length).toBeLessThanOrEqual(budget);
      for (const cut of Object.values(update.contexts)) expect(cut!.length).toBeLessThanOrEqual(budget);
      expect(event.data.chars).toBe(update.codeContext.length);
    }
  });

  it('cuts the top files to their five most likely functions for the functions candidate', async () => {
    const { update, event } = await run(60_000, 3);
    const cut = update.contexts.top_k_functions!;
    expect(cut).toContain('store.py (condensed');
    expect(cut).toContain('def quota_left(self, account):');
    const cuts = event.data.cuts as Record<string, { files: Array<{ path: string; shown_in_full?: string[] }> }>;
    const shown = cuts.top_k_functions!.files.find((f) => f.path === 'store.py')!.shown_in_full!;
    expect(shown[0]).toBe('RecordStore.quota_left');
    expect(shown.length).toBeLessThanOrEqual(5);
  });
});

describe('a long file with no symbols', () => {
  // A constants module too long to show whole: one line the issue names among 400 others.
  const constants = [
    '"""Limits."""',
    ...Array.from({ length: 400 }, (_, i) =>
      i === 250 ? 'MAX_UPLOAD_SIZE = 1024' : i === 120 ? 'UPLOAD_DIR = "/tmp/uploads"' : `OPTION_${i} = ${i}`,
    ),
    '',
  ].join('\n');
  const repo = makeRepo({ 'limits.py': constants, 'report.py': 'def report(rows):\n    return len(rows)\n' });
  const index = buildRepoIndex(readDirSnapshot(repo));

  async function run(issue: string, budget: number) {
    const events = new EventLog('t-context-constants');
    const deps = {
      run: { index, tokens: { input: 0, output: 0 }, costUsd: 0 },
      events,
      samples: 1,
      contextBudget: budget,
    } as unknown as AgentDeps;
    const state = {
      issue,
      files: [
        { path: 'limits.py', score: 1, inSet: true },
        { path: 'report.py', score: 0.5, inSet: true },
      ],
    } as unknown as AgentStateType;
    const update = (await contextNode(state, deps)) as { codeContext: string };
    const files = events.events.find((e) => e.type === 'context')!.data.files as Array<{
      path: string;
      mode: string;
      shown_in_full?: string[];
      shown_in_part?: string[];
    }>;
    return { ctx: update.codeContext, files };
  }

  it('shows the module-level lines holding issue words, numbered with a line either side, when the module does not fit', async () => {
    expect(constants.length).toBeGreaterThan(3000);
    const { ctx, files } = await run('MAX_UPLOAD_SIZE is too small for video uploads', 3000);
    expect(ctx.length).toBeLessThanOrEqual(3000);
    expect(ctx).toContain('limits.py (condensed');
    expect(ctx).toContain('  252 MAX_UPLOAD_SIZE = 1024');
    expect(ctx).toContain('  251 OPTION_249 = 249');
    expect(ctx).toContain('  253 OPTION_251 = 251');
    expect(ctx).not.toContain('OPTION_300 = 300');
    expect(files[0]).toMatchObject({
      path: 'limits.py',
      mode: 'condensed',
      shown_in_full: [],
      shown_in_part: ['<module>'],
    });
  });

  it('leaves the file out, of the code and of the files the event reports, when nothing of it fits', async () => {
    const { ctx, files } = await run('the report of rows is wrong', 3000);
    expect(ctx).not.toContain('limits.py');
    expect(ctx).not.toMatch(/```python\n\n```/);
    expect(ctx).toMatch(/^report\.py\n/);
    expect(files.map((f) => f.path)).toEqual(['report.py']);
  });

  it('condense falls back to the matching lines, best first, while they fit', () => {
    const summary = summarisePython('limits.py', constants);
    const words = new Set(tokenize('MAX_UPLOAD_SIZE is too small for uploads'));
    const ranked = rankSymbols(summary, words, constants);
    expect(ranked[0]).toMatchObject({ qualname: '<module>' });
    // Room for about three lines: the line with the rarer words (max, size) wins over "upload" alone.
    const { body, full, part } = condense(summary, constants, ranked, 75, Infinity, words);
    expect(full).toEqual([]);
    expect(part).toEqual(['<module>']);
    expect(body).toContain('MAX_UPLOAD_SIZE = 1024');
    expect(body).not.toContain('UPLOAD_DIR');
    expect(body.length).toBeLessThanOrEqual(75);
    // Without the issue words, nothing shows.
    expect(condense(summary, constants, ranked, 75).body).toBe('');
  });
});
