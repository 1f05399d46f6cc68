import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePythonTree } from '../../localisation/index.js';
import {
  AnalysisContainer,
  createPythonAdapter,
  planSkeleton,
  QuickFixService,
  editsFromResponse,
  type EditRequest,
} from '../../quickfix/index.js';
import { forgetTrees, treeOf } from '../../quickfix/python/text.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const analyser = new AnalysisContainer({ docker, image: 'fixwright-sandbox:base' });
afterAll(() => analyser.close());

/** Skeleton analysis (the default) and the whole-file reference, over the same analysis container. */
const skeletal = createPythonAdapter(analyser);
const whole = createPythonAdapter(analyser, { skeletons: false });
const noModel = { name: null, reason: 'tests of the rule tier' } as const;
const fast = new QuickFixService({ adapters: [skeletal], model: noModel });
const reference = new QuickFixService({ adapters: [whole], model: noModel });

/**
 * Real-looking code with findings planted in functions, methods and at module level: undefined
 * and misspelt names, unused locals, a function-level unused import, a loop variable shadowing a
 * module import, a redefinition, an import used only inside one method.
 */
const MODULE = `"""Loading and summarising sales reports."""
from __future__ import annotations

import csv
import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

log = logging.getLogger(__name__)

CURRENCIES = {
    "EUR": 1.0,
    "USD": 0.92,
    "GBP": 1.17,
}

DEFAULT_COLUMNS = (
    "region",
    "amount",
    "currency",
)


@dataclass
class Row:
    region: str
    amount: float
    currency: str = "EUR"
    tags: list[str] = field(default_factory=list)

    def in_euros(self) -> float:
        rate = CURRENCIES.get(self.currency)
        if rate is None:
            raise ValueError(f"unknown currency {self.currency}")
        return self.amount * rate

    def label(self):
        unused_prefix = "row"
        return f"{self.region}:{self.amount:.2f}"


class Report:
    """A set of rows and what can be said about them."""

    title = "sales"

    def __init__(self, rows: Iterable[Row]):
        self.rows = list(rows)
        self.by_region = defaultdict(list)
        for row in self.rows:
            self.by_region[row.region].append(row)

    def total(self) -> float:
        total = 0.0
        for row in self.rows:
            totl += row.in_euros()
        return total

    def regions(self):
        import itertools
        return sorted(self.by_region)

    def dump(self, path):
        with open(path, "w") as handle:
            json.dump({r: len(v) for r, v in self.by_region.items()}, handle)

    def largest(self, n=3):
        ranked = sorted(self.rows, key=lambda r: r.in_euros(), reverse=True)
        return rankd[:n]


def read_rows(path: str) -> list[Row]:
    rows = []
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            rows.append(Row(record["region"], float(record["amount"]), record.get("currency", "EUR")))
    log.info("read %d rows from %s", len(rows), os.path.basename(path))
    return rows


def columns_of(path):
    for os in DEFAULT_COLUMNS:
        print(os)
    return list(DEFAULT_COLUMNS)


def summarise(paths):
    report = Report(row for path in paths for row in read_rows(path))
    summary = {"title": report.title, "total": report.total()}
    sumary = summary
    return summary


def summarise(paths, title):
    return {"title": title, "total": Report(read_rows(p) for p in paths).total()}
`;

/** Every definition's line range (top-level functions and classes, and methods), 1-based. */
function definitions(code: string): Array<{ name: string; start: number; end: number }> {
  const lines = code.split('\n');
  const out: Array<{ name: string; start: number; end: number }> = [];
  lines.forEach((line, i) => {
    const m = /^(\s*)(?:def|class) (\w+)/.exec(line);
    if (!m) return;
    const indent = m[1]!.length;
    let start = i;
    while (start > 0 && /^\s*@/.test(lines[start - 1]!)) start--;
    let end = i;
    for (let j = i + 1; j < lines.length; j++) {
      if (lines[j]!.trim() === '') continue;
      if (/^\s*/.exec(lines[j]!)![0].length <= indent) break;
      end = j;
    }
    out.push({ name: m[2]!, start: start + 1, end: end + 1 });
  });
  return out;
}

const brief = (d: { line?: number; message: string }) => `${d.line}: ${d.message}`;

describe('the skeleton of a file', () => {
  it('keeps every line number, stubs the other definitions and keeps module-level statements', () => {
    const outcome = planSkeleton(MODULE, { ranges: [{ start: 57, end: 60 }] });
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    const lines = outcome.plan.text.split('\n');
    expect(lines.length).toBe(MODULE.split('\n').length);
    expect(outcome.plan.definitions).toEqual(['class Report', 'def total']);
    // The method asked about is whole; its siblings and the other definitions are one-line stubs.
    expect(lines.slice(56, 61).join('\n')).toBe(MODULE.split('\n').slice(56, 61).join('\n'));
    expect(lines[61]).toBe('    def regions(): pass');
    expect(lines[74]).toBe('def read_rows(): pass');
    expect(lines[26]).toBe('class Row: pass');
    // Module-level statements stay; a long constant keeps its binding without its body.
    expect(lines[3]).toBe('import csv');
    expect(lines[13]).toBe('CURRENCIES = 0');
    expect(lines.slice(14, 17).every((l) => l === '')).toBe(true);
  });

  it('keeps whole a definition that mentions a focus name or declares a global', () => {
    const code =
      'import json\n\ndef a():\n    return json.dumps(1)\n\ndef b():\n    global STATE\n    STATE = 1\n\ndef c():\n    return 2\n\ndef d(x):\n    return x\n';
    const outcome = planSkeleton(code, { ranges: [{ start: 13, end: 14 }], names: ['json'] });
    expect(outcome.ok && outcome.plan.text.split('\n').slice(0, 11)).toEqual([
      'import json',
      '',
      'def a():',
      '    return json.dumps(1)',
      '',
      'def b():',
      '    global STATE',
      '    STATE = 1',
      '',
      'def c(): pass',
      '',
    ]);
  });

  it('refuses (the whole file is analysed) when a syntax error or a Python 2 statement lies outside the focus', () => {
    const broken = 'def a(:\n    return 1\n\ndef b(x):\n    return x\n';
    expect(planSkeleton(broken, { ranges: [{ start: 4, end: 5 }] })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/syntax error/),
    });
    const py2 = 'def a(x):\n    print x\n\ndef b(x):\n    return x\n';
    expect(planSkeleton(py2, { ranges: [{ start: 4, end: 5 }] })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/Python 2/),
    });
    // A syntax error inside the focus is the one pyflakes reports: the skeleton stands.
    expect(planSkeleton(broken, { ranges: [{ start: 1, end: 2 }] }).ok).toBe(true);
  });
});

describe('the tree of a candidate, parsed incrementally from the code it edits', () => {
  it('is the tree a fresh parse gives, positions included, after wide characters on the edited line', () => {
    const base = `${'def f(a):\n    return a\n\n'.repeat(1500)}label = "größe"; z = 1\nprint(label)\n`;
    const positions = (tree: ReturnType<typeof treeOf>) =>
      tree.rootNode
        .descendantsOfType('identifier')
        .slice(-6)
        .map((n) => `${n.startPosition.row}:${n.startPosition.column}:${n.text}`);
    for (const edited of [
      base.replace('z = 1\n', 'z = 22\nw = z\n'),
      base.replace('    return a\n\ndef f', '    return (a\n\ndef f'),
      base.replace('print(label)', 'prnt(label, größe)'),
    ]) {
      forgetTrees();
      treeOf(base);
      const incremental = treeOf(edited);
      const fresh = parsePythonTree(edited);
      expect(incremental.rootNode.toString()).toBe(fresh.rootNode.toString());
      expect(positions(incremental)).toEqual(positions(fresh));
    }
  });
});

describe('skeleton analysis finds what the whole-file analysis finds', () => {
  it('inside every definition of a real-looking module', async () => {
    const full = await whole.diagnostics(MODULE);
    expect(full.available).toBe(true);
    if (!full.available) return;
    // The planted findings are all there (so the comparison below compares something).
    expect(full.diagnostics.map(brief)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/undefined name 'totl'/),
        expect.stringMatching(/undefined name 'rankd'/),
        expect.stringMatching(/'unused_prefix' is assigned to but never used/),
        expect.stringMatching(/'itertools' imported but unused/),
        expect.stringMatching(/import 'os' from line 7 shadowed by loop variable/),
        expect.stringMatching(/redefinition of unused 'summarise'/),
      ]),
    );
    for (const def of definitions(MODULE)) {
      const focused = await skeletal.diagnostics(MODULE, { ranges: [{ start: def.start, end: def.end }] });
      expect(focused.available && focused.view, def.name).toBeTruthy();
      if (!focused.available) continue;
      const inside = (d: { line?: number }) => d.line !== undefined && d.line >= def.start && d.line <= def.end;
      expect(focused.diagnostics.filter(inside).map(brief), def.name).toEqual(
        full.diagnostics.filter(inside).map(brief),
      );
    }
  });

  it('at module level: an import used only inside one method is not reported unused, an unused one is', async () => {
    const used = await skeletal.diagnostics(MODULE, { ranges: [{ start: 5, end: 5 }] }); // import json
    expect(used.available && used.diagnostics.map(brief)).toEqual([]);
    const code = MODULE.replace('import logging\n', 'import logging\nimport shutil\n');
    const unused = await skeletal.diagnostics(code, { ranges: [{ start: 7, end: 7 }] });
    expect(unused.available && unused.diagnostics.map(brief)).toEqual(["7: 'shutil' imported but unused"]);
  });
});

describe('quick fixes verified on skeletons answer as whole-file verification does', () => {
  const request = (
    code: string,
    line: number,
    message: string,
    region = definitions(code)
      .filter((d) => d.start <= line && d.end >= line)
      .pop()!,
  ): EditRequest => ({
    language: 'python',
    code,
    start_line: region.start,
    end_line: region.end,
    diagnostics: [{ line, message }],
  });

  it.each([
    ['a misspelt local in a method', 59, "undefined name 'totl'"],
    ['a misspelt local in another method', 72, "undefined name 'rankd'"],
    ['an unused local', 41, "local variable 'unused_prefix' is assigned to but never used"],
    ['a function-level unused import', 63, "'itertools' imported but unused"],
  ])('%s', async (_name, line, message) => {
    const [fromSkeleton, fromWhole] = await Promise.all([
      fast.edit(request(MODULE, line, message)),
      reference.edit(request(MODULE, line, message)),
    ]);
    expect(fromSkeleton.status).toBe('edited');
    expect(fromSkeleton.verification.checked.join(' ')).toMatch(/skeleton/);
    expect({ edits: fromSkeleton.edits, fixed: fromSkeleton.verification.fixed }).toEqual({
      edits: fromWhole.edits,
      fixed: fromWhole.verification.fixed,
    });
  });

  it('an import added at the top is checked against every function that mentions its name', async () => {
    // `import json` would be shadowed by the loop variable in names(): a new problem the whole file shows.
    const code =
      'def load(text):\n    return json.loads(text)\n\n\ndef names(rows):\n    for json in rows:\n        print(json)\n';
    const [fromSkeleton, fromWhole] = await Promise.all([
      fast.edit(request(code, 2, "undefined name 'json'")),
      reference.edit(request(code, 2, "undefined name 'json'")),
    ]);
    expect(fromWhole.status).toBe('no_edits');
    expect(fromSkeleton.status).toBe(fromWhole.status);
  });

  it('taking away the last use of a module import is seen at module level', async () => {
    // Removing the unused local would leave 're' unused: a new problem at line 1, outside the function.
    const code = 'import re\n\n\ndef other():\n    return 1\n\n\ndef f(x):\n    flags = re.IGNORECASE\n    return x\n';
    const ask = request(code, 9, "local variable 'flags' is assigned to but never used");
    const [fromSkeleton, fromWhole] = await Promise.all([fast.edit(ask), reference.edit(ask)]);
    expect(fromWhole.status).toBe('no_edits');
    expect(fromSkeleton.status).toBe('no_edits');
  });

  it('a region at module level is analysed there, with the uses inside functions counted', async () => {
    const code = 'import os\nimport sys\n\n\ndef main():\n    return sys.argv\n';
    const answer = await fast.edit({ language: 'python', code, start_line: 1, end_line: 2, diagnostics: [] });
    expect(editsFromResponse(code, answer)).toBe('import sys\n\n\ndef main():\n    return sys.argv\n');
    expect(answer.verification.fixed).toBe(true);
  });
});
