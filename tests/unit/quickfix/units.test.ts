import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../core/config.js';
import { parseLineRangeEdits } from '../../../agent/edits/index.js';
import { classifyMessage, clientDiagnostics, newDiagnostics } from '../../../quickfix/diagnostics.js';
import { EditCache } from '../../../quickfix/edit-cache.js';
import { editsBetween, fromLineEdits, outsideRegion, renderDsl, toLineEdits } from '../../../quickfix/line-edits.js';
import { editDistance } from '../../../quickfix/python/text.js';
import { ruleTierWanted } from '../../../quickfix/rule-tier.js';
import { BUG_KINDS, injectBug, seededRandom } from '../../../quickfix/edit-bench/inject.js';
import { applyLineRangeEdits } from '../../../agent/edits/line-range.js';

describe('diagnostics from editors and linters', () => {
  it.each([
    ["NameError: name 'itm' is not defined", 'undefined_name', 'itm'],
    ["undefined name 'os'", 'undefined_name', 'os'],
    ["F401 'os.path' imported but unused", 'unused_import', 'os.path'],
    ["local variable 'x' is assigned to but never used", 'unused_local', 'x'],
    ["SyntaxError: expected ':'", 'syntax', undefined],
    ["'(' was never closed", 'syntax', undefined],
    ['test_add: assert add(2, 3) == 5 failed', 'other', undefined],
  ])('%s', (message, kind, name) => {
    expect(classifyMessage(message)).toEqual(name ? { kind, name } : { kind });
  });

  it('reads lines from "at line N" and file:line:col, and takes a code', () => {
    const [a, b, c] = clientDiagnostics([
      "name 'x' is not defined at line 7",
      'app.py:12:4: F821 undefined name y',
      { message: 'whatever', code: 'F841' },
    ]);
    expect(a).toMatchObject({ line: 7, name: 'x' });
    expect(b).toMatchObject({ line: 12, kind: 'undefined_name', name: 'y' });
    expect(c).toMatchObject({ kind: 'unused_local' });
  });

  it('counts a problem as new per occurrence, wherever edits moved it', () => {
    const d = (line: number, name: string) => ({
      line,
      message: `undefined name '${name}'`,
      kind: 'undefined_name' as const,
      name,
      source: 'pyflakes' as const,
    });
    expect(newDiagnostics([d(1, 'a')], [d(5, 'a')])).toEqual([]);
    expect(newDiagnostics([d(1, 'a')], [d(1, 'a'), d(2, 'a')])).toEqual([d(2, 'a')]);
  });
});

describe('line edits', () => {
  it('the minimal edits between two texts round-trip through DSL and client edits', () => {
    const before = 'a\nb\nc\nd\n';
    const after = 'x\na\nb\nC\nd\ne\n';
    const edits = editsBetween(before, after);
    expect(applyLineRangeEdits('f', before, edits)).toBe(after);
    expect(applyLineRangeEdits('f', before, parseLineRangeEdits(renderDsl(edits)))).toBe(after);
    const client = toLineEdits(edits);
    expect(client).toEqual([
      { start_line: 1, end_line: 0, replacement: 'x\n' },
      { start_line: 3, end_line: 3, replacement: 'C\n' },
      { start_line: 5, end_line: 4, replacement: 'e\n' },
    ]);
    expect(applyLineRangeEdits('f', before, fromLineEdits(before, client)!)).toBe(after);
  });

  it('refuses edits outside the region, insertions included', () => {
    const edits = parseLineRangeEdits('@@ 5-5\n-x\n+y\n');
    expect(outsideRegion(edits, { start: 1, end: 4 })).toMatch(/@@ 5-5 is outside/);
    expect(outsideRegion(parseLineRangeEdits('@@ 4-4\n+y\n'), { start: 2, end: 4 })).toBeUndefined();
    expect(outsideRegion(parseLineRangeEdits('@@ 0-0\n+y\n'), { start: 2, end: 4 })).toMatch(/outside/);
  });
});

describe("the rule tier's scope of work", () => {
  it.each([
    [undefined, true],
    ['fix errors only', true],
    ['fix the lint warnings', true],
    ['add type hints', false],
    ['refactor this into two functions', false],
  ])('%s → %s', (instruction, wanted) => {
    expect(ruleTierWanted(instruction)).toBe(wanted);
  });

  it('edit distance counts a swap of neighbours as one slip', () => {
    expect(editDistance('retrun', 'return')).toBe(1);
    expect(editDistance('itm', 'items')).toBe(2);
  });
});

describe('the cache', () => {
  const answer = (n: number) => ({
    edits: [],
    raw_patch_dsl: 'x'.repeat(n),
    status: 'no_edits' as const,
    tier: 'rule' as const,
    verification: {} as never,
    model_version: null,
    model_rounds: 0,
  });

  it('evicts the least recently used entry past its entry bound', async () => {
    const cache = new EditCache({ maxEntries: 2 });
    await cache.set('a', answer(1));
    await cache.set('b', answer(1));
    await cache.get('a'); // a is now the most recent
    await cache.set('c', answer(1));
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('a')).toBeDefined();
    expect(await cache.get('c')).toBeDefined();
  });

  it('stays within its byte bound', async () => {
    const cache = new EditCache({ maxEntries: 100, maxBytes: 4000 });
    for (let i = 0; i < 10; i++) await cache.set(`k${i}`, answer(600));
    expect(cache.size).toBeLessThanOrEqual(5);
    expect(await cache.get('k9')).toBeDefined();
    expect(await cache.get('k0')).toBeUndefined();
  });
});

describe('bug injection', () => {
  const code =
    'import os\nimport sys\n\n\ndef walk(root):\n    found = []\n    for name in os.listdir(root):\n ' +
    '       if name.endswith(".py"):\n            found.append(os.path.join(root, name))\n    return found\n\n\nprint(walk(sys.argv[1]))\n';

  it('is reproducible from its seed, and each kind changes the code', () => {
    for (const kind of BUG_KINDS) {
      const a = injectBug(kind, code, seededRandom(3));
      const b = injectBug(kind, code, seededRandom(3));
      expect(a).toEqual(b);
      if (a) expect(a.code).not.toBe(code);
    }
    expect(BUG_KINDS.filter((k) => injectBug(k, code, seededRandom(5)))).not.toHaveLength(0);
  });
});

describe("the cache's settings", () => {
  it('default to 1000 entries, 64 MiB and 24 h, and are read from the environment', () => {
    expect(loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/fw-qf-settings' }).quickfix).toEqual({
      cacheMaxEntries: 1000,
      cacheMaxBytes: 64 * 1024 * 1024,
      cacheTtlSeconds: 86400,
    });
    expect(
      loadSettings({
        FIXWRIGHT_DATA_DIR: '/tmp/fw-qf-settings',
        FIXWRIGHT_EDIT_CACHE_ENTRIES: '50',
        FIXWRIGHT_EDIT_CACHE_BYTES: '2m',
        FIXWRIGHT_EDIT_CACHE_TTL: '60',
      }).quickfix,
    ).toEqual({ cacheMaxEntries: 50, cacheMaxBytes: 2 * 1024 * 1024, cacheTtlSeconds: 60 });
  });

  it('refuse bad values, naming every variable at fault', () => {
    expect(() =>
      loadSettings({
        FIXWRIGHT_DATA_DIR: '/tmp/fw-qf-settings',
        FIXWRIGHT_EDIT_CACHE_ENTRIES: '0',
        FIXWRIGHT_EDIT_CACHE_BYTES: 'lots',
        FIXWRIGHT_EDIT_CACHE_TTL: '1.5',
      }),
    ).toThrow(
      /FIXWRIGHT_EDIT_CACHE_ENTRIES:? .*greater than 0.*FIXWRIGHT_EDIT_CACHE_BYTES:? .*size such as.*FIXWRIGHT_EDIT_CACHE_TTL:? .*whole number/,
    );
    expect(() => loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/fw-qf-settings', FIXWRIGHT_EDIT_CACHE_BYTES: '1k' })).toThrow(
      /FIXWRIGHT_EDIT_CACHE_BYTES:? .*from 64k to 64g/,
    );
  });
});
