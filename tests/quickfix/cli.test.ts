import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'fw-qf-cli-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const env = {
  FIXWRIGHT_DATA_DIR: join(tmpdir(), 'fw-qf-cli-data'),
  FIXWRIGHT_MODEL: '',
  OPENAI_BASE_URL: '',
  REDIS_URL: '',
};

describe('fixwright edit', () => {
  it('prints the diff of a verified rule-tier fix, and --write applies it', async () => {
    const dir = temp();
    const file = join(dir, 'total.py');
    writeFileSync(
      file,
      'import os\n\n\ndef total(items):\n    s = 0\n    for i in itm:\n        s += i\n    return s\n',
    );
    const r = await runCli(['edit', file, '--line', '6', '--diagnostic', "NameError: name 'itm' is not defined"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('-    for i in itm:\n+    for i in items:');
    expect(r.stdout).not.toContain('import os'.replace('import', '-import'));
    expect(r.stderr).toMatch(/edited \(rule tier, lines 4-8/);
    expect(readFileSync(file, 'utf8')).toContain('in itm:');
    const w = await runCli(['edit', file, '--line', '6', '--write'], env);
    expect(w.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('for i in items:');
  });

  it('exits 1 with the reason when nothing verified can be done', async () => {
    const dir = temp();
    const file = join(dir, 'add.py');
    writeFileSync(file, 'def add(a, b):\n    return a - b\n');
    const r = await runCli(['edit', file, '--line', '2', '--diagnostic', 'assert add(2, 3) == 5'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no_edits .*no model is configured/);
  });
});

describe('fixwright edit-bench', () => {
  it('injects reported bugs into a fixture corpus and reports per kind and tier (JSON + Markdown)', async () => {
    const corpus = temp();
    const out = temp();
    const body = (i: number) =>
      `import os\nimport sys\nfrom collections import defaultdict\n\n\ndef index_files(root):\n    ` +
      `groups = defaultdict(list)\n    for name in os.listdir(root):\n        stem, ext = ` +
      `os.path.splitext(name)\n        groups[ext].append(stem)\n    return groups\n\n\ndef ` +
      `summary${i}(root):\n    counts = {}\n    for ext, names in index_files(root).items():\n       ` +
      ` if names:\n            counts[ext] = len(names)\n    total = sum(counts.values())\n    ` +
      `return total, counts\n\n\nif __name__ == "__main__":\n    print(summary${i}(sys.argv[1]))\n`;
    for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `mod${i}.py`), body(i));
    const r = await runCli(['edit-bench', '--corpus', corpus, '--n', '12', '--seed', '7', '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.cases).toHaveLength(12);
    expect(Object.values(report.injected as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(12);
    expect(report.model).toBe('scripted');
    for (const c of report.cases) expect(c.diagnostics.length).toBeGreaterThan(0);
    const rule = report.tiers.rule;
    expect(rule.all.cases).toBe(12);
    // Misspelt names in this corpus are all one slip from a name in scope: the rule tier fixes them.
    expect(rule.misspell_name.fix_rate).toBe(1);
    expect(rule.misspell_name.exact_restore_rate).toBe(1);
    // Nothing in the rule tier waits for a model.
    expect(rule.all.model_ms.p95).toBe(0);
    // The scripted model answers the inverse mutation: every case is restored through the model tier.
    expect(report.tiers.model.all.exact_restore_rate).toBe(1);
    expect(report.tiers.model.all.overhead_ms.p50).toBeLessThan(report.tiers.model.all.latency_ms.p50 + 0.01);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('| misspell_name | ');
    expect(md).toContain('## model tier');
  });

  it('refuses a corpus without Python files', async () => {
    const r = await runCli(['edit-bench', '--corpus', temp(), '--n', '3'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds no usable Python files/);
  });
});
