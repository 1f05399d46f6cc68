import { describe, expect, it } from 'vitest';
import { buildImportGraph, ImportGraphBuilder } from '../../../localisation/import-graph.js';
import { summarisePython } from '../../../localisation/python-parse.js';
import type { FileSummary } from '../../../localisation/python-parse.js';

/** Summaries of a snapshot; a file whose text is unchanged keeps its summary object (as a cached blob does). */
function snapshot(files: Record<string, string>, before: Map<string, FileSummary> = new Map()): FileSummary[] {
  return Object.entries(files)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([path, text]) => {
      const key = `${path}\0${text}`;
      const summary = before.get(key) ?? summarisePython(path, text);
      before.set(key, summary);
      return summary;
    });
}

describe('the import graph built one snapshot after another', () => {
  it('equals a fresh build when modules appear, disappear and move under unchanged importers', () => {
    const seen = new Map<string, FileSummary>();
    const base = {
      'app/main.py': 'import pkg.sub.attr\nfrom pkg import helpers, util\nfrom . import local\n',
      'app/local.py': 'from .missing import x\nimport pkg\n',
      'pkg/__init__.py': '',
      'pkg/sub.py': 'attr = 1\n',
      'pkg/util.py': 'from .helpers import h\n',
      'src/lib/__init__.py': 'from .core import c\n',
    };
    const steps: Array<Record<string, string>> = [
      base,
      // pkg/sub becomes a package with an attr module: main's `import pkg.sub.attr` now names the file.
      {
        ...Object.fromEntries(Object.entries(base).filter(([p]) => p !== 'pkg/sub.py')),
        'pkg/sub/__init__.py': '',
        'pkg/sub/attr.py': 'x = 1\n',
      },
      // helpers and app/missing appear; util's import of .helpers and local's of .missing now resolve.
      { ...base, 'pkg/helpers.py': 'def h():\n    pass\n', 'app/missing.py': 'x = 2\n', 'src/lib/core.py': 'c = 3\n' },
      // An importer changes its imports; another file is removed.
      { ...base, 'app/main.py': 'from pkg.util import h\n', 'pkg/helpers.py': 'h = 1\n' },
      base,
    ];
    const builder = new ImportGraphBuilder();
    for (const files of steps) {
      const summaries = snapshot(files, seen);
      const graph = builder.graph(summaries);
      expect([...graph]).toEqual([...buildImportGraph(summaries)]);
    }
    // The steps do change what unchanged files resolve to, so the builder had to resolve them again.
    expect(buildImportGraph(snapshot(steps[1]!, seen)).get('app/main.py')).toContain('pkg/sub/attr.py');
    expect(buildImportGraph(snapshot(steps[0]!, seen)).get('app/main.py')).toContain('pkg/sub.py');
    expect(buildImportGraph(snapshot(steps[2]!, seen)).get('pkg/util.py')).toEqual(['pkg/helpers.py']);
  });

  it('hands out graphs whose changes do not reach the next one', () => {
    const builder = new ImportGraphBuilder();
    const summaries = snapshot({ 'a.py': 'import b\n', 'b.py': '' });
    builder.graph(summaries).get('a.py')!.push('changed.py');
    expect(builder.graph(summaries).get('a.py')).toEqual(['b.py']);
  });
});
