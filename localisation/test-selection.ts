import { isDocsFile, isTestFile } from './file-filter.js';
import { moduleIndex, moduleNames, resolveImports } from './import-graph.js';
import { type FileSummary, type PyImport, summarisePython } from './python-parse.js';

/** An existing test file chosen to guard against regressions, with why it was chosen. */
export interface SelectedTest {
  path: string;
  /** In words: how the file reaches a touched module ("imports calc (calc/__init__.py), which imports calc/ops.py"). */
  reason: string;
  /** Import hops from the test to the nearest touched file; 0 when the test itself is touched. */
  distance: number;
  /** The changed names the test mentions (see `names`). */
  mentions: string[];
}

/** Options for {@link selectRegressionTests}. */
export interface TestSelectionOptions {
  /** At most this many tests are returned (default 40); the nearest are kept. */
  maxFiles?: number;
  /**
   * Summaries already parsed for these files (a RepoIndex has them); files without one are parsed
   * here. Parsing dominates the cost: on pylint (2,416 files) about 2 s to parse, 0.14 s for the rest.
   */
  summaries?: readonly FileSummary[];
  /**
   * Names the change touches (functions, classes, identifiers on changed lines). Among the tests
   * that reach a touched file, those that mention more of them (each weighed by how rare it is
   * among those tests) come first (name-level selection, as NameRTS does), then the nearest: in a package whose every test imports the package's
   * `__init__`, distance alone cannot tell the tests of a change from the rest.
   */
  names?: readonly string[];
}

/** The tests that reach a patch's files, nearest first. */
export interface TestSelection {
  tests: SelectedTest[];
  /** How many test modules the repository has (the pool the selection was drawn from). */
  considered: number;
  /** Set when more tests reached the touched files than `maxFiles` allowed. */
  truncated: boolean;
}

/**
 * How a file depends on another: `import` (a resolved import statement, or a parent package an
 * import runs) or a pytest carrier: a conftest.py pytest loads before the test, or the test's own
 * package __init__.py.
 */
type Edge = { to: string; kind: 'import'; module: string } | { to: string; kind: 'conftest' | 'package' };

const DEFAULT_MAX_FILES = 40;
/** A test file named for a touched module outranks any number of mentioned names. */
const NAMED_FOR_BONUS = 1000;
/** Reasons name at most this many hops; longer chains end with "…". */
const MAX_REASON_HOPS = 5;

/**
 * A file to hand pytest: test code (isTestFile) that is not a conftest or package marker, and is
 * named like a test module or defines a top-level `test_*` function or `Test*` class. The content
 * test catches suites named by their own python_files setting (pylint's unittest_*.py, pytest's
 * testing/python/*.py: pytest collects a path given on its command line whatever its name), while
 * helpers, fixture apps and linter data files under tests/ stay carriers only.
 */
function isTestModule(summary: FileSummary): boolean {
  const name = summary.path.slice(summary.path.lastIndexOf('/') + 1);
  if (!isTestFile(summary.path) || name === 'conftest.py' || name === '__init__.py') return false;
  if (/^test_.*\.py$/.test(name) || /_tests?\.py$/.test(name) || name === 'tests.py') return true;
  return summary.symbols.some(
    (s) =>
      !s.qualname.includes('.') &&
      ((s.kind === 'function' && s.name.startsWith('test')) || (s.kind === 'class' && s.name.startsWith('Test'))),
  );
}

function dirOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function inDir(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

/** The import name a reader knows a file by: `flask.app` rather than `src.flask.app`. */
function displayName(path: string): string {
  const names = moduleNames(path);
  return names[names.length - 1] ?? path;
}

/** The __init__.py files Python runs before a module: its package's and every enclosing package's. */
function parentPackages(path: string, present: ReadonlySet<string>): string[] {
  const inits: string[] = [];
  let dir = dirOf(path);
  if (path.endsWith('/__init__.py') || path === '__init__.py') dir = dirOf(dir);
  while (dir) {
    const init = `${dir}/__init__.py`;
    // A directory without __init__.py ends the package (src/ in a src layout).
    if (!present.has(init)) break;
    inits.push(init);
    dir = dirOf(dir);
  }
  return inits;
}

/**
 * Where an absolute import in a test file may be found besides the repository's packages, as dotted
 * prefixes: first pytest's "basedir" (the test's first enclosing directory that is not a package,
 * which its default import mode puts on sys.path, so `import helpers` in tests/test_x.py means
 * tests/helpers.py), then, after the repository-wide names, each enclosing directory (an example
 * project's tests importing its own uninstalled package: examples/tutorial/tests → flaskr).
 */
function testImportPrefixes(path: string, present: ReadonlySet<string>): { first?: string; fallbacks: string[] } {
  let base = dirOf(path);
  while (base && present.has(`${base}/__init__.py`)) base = dirOf(base);
  const fallbacks: string[] = [];
  for (let dir = dirOf(base); dir; dir = dirOf(dir)) fallbacks.push(dir.split('/').join('.'));
  return base ? { first: base.split('/').join('.'), fallbacks } : { fallbacks };
}

/** The spelling of an absolute import that names a module of the repository, trying the test-only prefixes around the plain one. */
function locateImport(
  imp: PyImport,
  modules: Map<string, string>,
  prefixes: { first?: string; fallbacks: string[] },
): PyImport {
  const exists = (module: string) => modules.has(module) || imp.names.some((n) => modules.has(`${module}.${n}`));
  if (prefixes.first && exists(`${prefixes.first}.${imp.module}`))
    return { ...imp, module: `${prefixes.first}.${imp.module}` };
  if (exists(imp.module)) return imp;
  const prefix = prefixes.fallbacks.find((p) => exists(`${p}.${imp.module}`));
  return prefix ? { ...imp, module: `${prefix}.${imp.module}` } : imp;
}

function writtenModule(imp: PyImport): string {
  return '.'.repeat(imp.level) + imp.module;
}

/** One import statement split into single-name imports, so each resolved file keeps the name that reached it. */
function splitImport(imp: PyImport): Array<{ imp: PyImport; written: string }> {
  if (imp.names.length === 0) return [{ imp, written: writtenModule(imp) }];
  const base = writtenModule(imp);
  return imp.names.map((name) => ({ imp: { ...imp, names: [name] }, written: base }));
}

/** The edges of one file: what its imports resolve to, the packages they run, and pytest's carriers for tests. */
function edgesOf(summary: FileSummary, modules: Map<string, string>, present: ReadonlySet<string>): Edge[] {
  const edges = new Map<string, Edge>();
  const add = (edge: Edge) => {
    if (edge.to !== summary.path && !edges.has(edge.to)) edges.set(edge.to, edge);
  };
  const prefixes = isTestFile(summary.path) ? testImportPrefixes(summary.path, present) : undefined;
  const parents: Array<{ path: string; importedAs: string }> = [];
  for (const statement of summary.imports) {
    for (const { imp, written } of splitImport(statement)) {
      const resolvedImp = prefixes && imp.level === 0 ? locateImport(imp, modules, prefixes) : imp;
      const targets = resolveImports({ ...summary, imports: [resolvedImp] }, modules);
      // `from pkg import mod` reaches pkg/mod.py: name it `pkg.mod`, as Python does (but
      // `from pkg.mod import mod` reaches pkg/mod.py as `pkg.mod`).
      const bases = imp.names.length
        ? new Set(resolveImports({ ...summary, imports: [{ ...resolvedImp, names: [] }] }, modules))
        : undefined;
      for (const target of targets) {
        const name =
          bases && !bases.has(target) ? `${written}${written.endsWith('.') ? '' : '.'}${imp.names[0]}` : written;
        add({ to: target, kind: 'import', module: name });
        parents.push({ path: target, importedAs: name });
      }
    }
  }
  // Importing pkg.sub.mod runs pkg/__init__.py and pkg/sub/__init__.py first; added after the
  // direct imports so a file imported by name keeps that name in reasons.
  for (const { path, importedAs } of parents) {
    const written = importedAs.replace(/^\.+/, '').split('.');
    parentPackages(path, present).forEach((init, i) => {
      // Named as the import spelled it (`flaskr.db` runs `flaskr`), else by the file's own name.
      const spelled = importedAs.startsWith('.') ? '' : written.slice(0, -(i + 1)).join('.');
      const name =
        spelled && moduleNames(init).some((n) => n === spelled || n.endsWith(`.${spelled}`))
          ? spelled
          : displayName(init);
      add({ to: init, kind: 'import', module: name });
    });
  }
  if (isTestModule(summary)) {
    // pytest loads every conftest.py from the rootdir down to the test's directory before the test.
    for (let dir = dirOf(summary.path); ; dir = dirOf(dir)) {
      const conftest = inDir(dir, 'conftest.py');
      if (present.has(conftest)) add({ to: conftest, kind: 'conftest' });
      if (!dir) break;
    }
    for (const init of parentPackages(summary.path, present)) add({ to: init, kind: 'package' });
  }
  return [...edges.values()];
}

/** Says in words how `path` reaches a touched file, following the breadth-first search's steps. */
function describe(path: string, next: ReadonlyMap<string, Edge>): string {
  let text = '';
  let named = false;
  let current = path;
  for (let hop = 0, edge = next.get(current); edge; hop++, current = edge.to, edge = next.get(current)) {
    if (hop === MAX_REASON_HOPS) return `${text}, …`;
    if (edge.kind !== 'import') {
      text += `${hop === 0 ? '' : ', under '}${edge.kind} ${edge.to}${next.has(edge.to) ? '' : ' changed by the patch'}`;
    } else if (!named) {
      text += `${hop === 0 ? '' : ' '}imports ${edge.module} (${edge.to})`;
      named = true;
    } else {
      text += `, which imports ${edge.to}`;
    }
  }
  return text || 'changed by the patch';
}

/**
 * The existing test modules that reach any of the touched files through imports (any form,
 * transitively, including parent packages, pytest's basedir and conftest.py files), nearest first.
 * A reverse breadth-first search from the touched files makes `distance` the fewest import hops.
 */
export function selectRegressionTests(
  files: readonly { path: string; text: string }[],
  touched: readonly string[],
  options: TestSelectionOptions = {},
): TestSelection {
  const maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES;
  const python = files.filter((f) => f.path.endsWith('.py'));
  const present = new Set(python.map((f) => f.path));
  const known = new Map((options.summaries ?? []).map((s) => [s.path, s]));
  // Parsing is the cost that matters here (tree-sitter, each file once); the rest is linear in edges.
  const summaries = python.map((f) => known.get(f.path) ?? summarisePython(f.path, f.text));
  const modules = moduleIndex(summaries.map((s) => s.path));

  const importers = new Map<string, Array<{ from: string; edge: Edge }>>();
  for (const summary of summaries) {
    for (const edge of edgesOf(summary, modules, present)) {
      let list = importers.get(edge.to);
      if (!list) importers.set(edge.to, (list = []));
      list.push({ from: summary.path, edge });
    }
  }

  const distance = new Map<string, number>();
  const next = new Map<string, Edge>();
  let frontier = [...new Set(touched)].filter((p) => present.has(p)).sort();
  for (const path of frontier) distance.set(path, 0);
  for (let depth = 1; frontier.length > 0; depth++) {
    const reached: string[] = [];
    for (const target of frontier) {
      for (const { from, edge } of importers.get(target) ?? []) {
        if (distance.has(from)) continue;
        distance.set(from, depth);
        next.set(from, edge);
        reached.push(from);
      }
    }
    frontier = reached.sort();
  }

  // Tests of documentation and example projects need those projects installed; they are run only
  // when the patch changes them.
  const candidates = summaries.filter((s) => isTestModule(s) && (!isDocsFile(s.path) || distance.get(s.path) === 0));
  const text = new Map(python.map((f) => [f.path, f.text]));
  const names = [...new Set(options.names ?? [])].filter((n) => /^[A-Za-z_]\w*$/.test(n));
  const mentioned = (path: string) => names.filter((n) => new RegExp(`\\b${n}\\b`).test(text.get(path) ?? ''));
  const reachable = candidates
    .filter((s) => distance.has(s.path))
    .map((s) => ({ summary: s, mentions: mentioned(s.path) }));
  // A name most tests mention (`norm`, `data`) tells little; a rare one (`hue_order`) a lot: weigh each by its rarity.
  const df = new Map<string, number>();
  for (const r of reachable) for (const n of r.mentions) df.set(n, (df.get(n) ?? 0) + 1);
  const weight = (mentions: string[]) =>
    mentions.reduce((sum, n) => sum + Math.log(1 + reachable.length / df.get(n)!), 0);
  // By naming convention the tests of `pkg/tmpdir.py` live in `test_tmpdir.py`, and those of
  // `pkg/assertion/util.py` in `test_assertion.py`: such a file comes before any other.
  const namedFor = new Set(
    touched.flatMap((p) => {
      const parts = p.replace(/\.py$/, '').split('/');
      const stem = parts.pop()!;
      const parent = parts.pop();
      return [stem === '__init__' ? parent : stem, parent]
        .filter((n): n is string => n !== undefined && !/^(src|lib|tests?|testing|_?[a-z]?)$/.test(n))
        .map((n) => n.replace(/^_+/, ''));
    }),
  );
  const testsOf = (path: string) =>
    namedFor.has(
      path
        .slice(path.lastIndexOf('/') + 1)
        .replace(/\.py$/, '')
        .replace(/^(test|unittest)_|_tests?$/g, ''),
    );
  const selected = reachable
    .map(({ summary: s, mentions }) => {
      const named = testsOf(s.path);
      const reason =
        describe(s.path, next) +
        (named ? '; named for a touched module' : '') +
        (mentions.length ? `; mentions ${mentions.slice(0, 4).join(', ')}${mentions.length > 4 ? ', …' : ''}` : '');
      return {
        path: s.path,
        reason,
        distance: distance.get(s.path)!,
        mentions,
        score: weight(mentions) + (named ? NAMED_FOR_BONUS : 0),
      };
    })
    .sort((a, b) => b.score - a.score || a.distance - b.distance || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map(({ score: _score, ...test }) => test);
  return { tests: selected.slice(0, maxFiles), considered: candidates.length, truncated: selected.length > maxFiles };
}
