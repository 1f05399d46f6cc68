import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import type { ProjectFiles } from './project-files.js';
import type { PythonVersion, SpecDefaults, UserSpec } from './spec.js';

/** Top-level directories that hold tests, docs or tooling, never the project's importable code. */
const NOT_PACKAGES = new Set([
  'tests',
  'test',
  'testing',
  'docs',
  'doc',
  'examples',
  'example',
  'scripts',
  'benchmarks',
  'bench',
  'tools',
  'ci',
  'build',
  'dist',
  'setup',
]);
/** Extras and dependency groups that hold what the tests need. */
const TEST_EXTRAS = /^(test|tests|testing|dev|develop|development)$/i;
/** Requirements the base image already satisfies, or that only matter outside a test run. */
const PROVIDED = new Set([
  'pytest',
  'python',
  'pip',
  'setuptools',
  'wheel',
  'tox',
  'nox',
  'pre-commit',
  'coverage',
  'pytest-cov',
  'codecov',
  'black',
  'flake8',
  'mypy',
  'isort',
  'ruff',
  'pylint',
  'sphinx',
  'twine',
  'build',
]);
/** A dependency list longer than this is trimmed (and the trim is noted). */
const MAX_PACKAGES = 60;

/** A requirement's normalised distribution name (PEP 503). */
export function requirementName(req: string): string {
  return (req.match(/^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/)?.[1] ?? '').toLowerCase().replace(/[._]+/g, '-');
}

/** A requirement line reduced to name[extras] and version clauses (markers, comments, hashes and URLs dropped). */
function cleanRequirement(line: string): string | undefined {
  const text = line
    .replace(/\s+#.*$/, '')
    .split(';')[0]!
    .trim();
  if (
    !text ||
    text.startsWith('#') ||
    text.startsWith('-') ||
    text.includes('://') ||
    text.startsWith('.') ||
    text.includes('{')
  )
    return undefined;
  const m = text.match(
    /^([A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._ -]+\])?)\s*(\(?\s*((===?|[<>!~]=|[<>])\s*[A-Za-z0-9.*+!-]+(\s*,\s*(===?|[<>!~]=|[<>])\s*[A-Za-z0-9.*+!-]+)*)\s*\)?)?\s*$/,
  );
  if (!m) return undefined;
  return `${m[1]!.replace(/\s+/g, '')}${m[4] ? m[4].replace(/\s+/g, '') : ''}`;
}

const lines = (text: string) => text.split(/\r?\n/);

/** An INI file's sections (enough for setup.cfg and tox.ini: keys with indented continuation lines). */
function iniSections(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let section: Map<string, string> | undefined;
  let key: string | undefined;
  for (const raw of lines(text)) {
    if (/^\s*[#;]/.test(raw)) continue;
    const head = raw.match(/^\[([^\]]+)\]\s*$/);
    if (head) {
      section = new Map();
      sections.set(head[1]!.trim(), section);
      key = undefined;
      continue;
    }
    if (!section) continue;
    const kv = raw.match(/^([A-Za-z0-9_.-]+)\s*[=:]\s*(.*)$/);
    if (kv && !/^\s/.test(raw)) {
      key = kv[1]!;
      section.set(key, kv[2]!);
    } else if (key && /^\s+\S/.test(raw)) {
      section.set(key, `${section.get(key)}\n${raw.trim()}`);
    }
  }
  return sections;
}

/** The highest Python version a `requires-python` / `python_requires` clause allows among the ones fixwright has. */
function pythonFor(clause: string | undefined): { version: PythonVersion; note?: string } {
  if (!clause) return { version: '3.11' };
  const allows = (v: [number, number]) =>
    clause.split(',').every((part) => {
      const m = part.trim().match(/^(>=|<=|==|!=|~=|<|>)\s*(\d+)(?:\.(\d+|\*))?/);
      if (!m) return true;
      const want: [number, number] = [Number(m[2]), m[3] === undefined || m[3] === '*' ? -1 : Number(m[3])];
      const cmp = v[0] !== want[0] ? v[0] - want[0] : want[1] < 0 ? 0 : v[1] - want[1];
      switch (m[1]) {
        case '>=':
          return cmp >= 0;
        case '>':
          return cmp > 0;
        case '<=':
          return cmp <= 0;
        case '<':
          return cmp < 0;
        case '==':
        case '~=':
          return m[1] === '~=' ? cmp >= 0 : cmp === 0;
        case '!=':
          return cmp !== 0;
        default:
          return true;
      }
    });
  if (allows([3, 11])) return { version: '3.11' };
  if (allows([3, 9])) return { version: '3.9' };
  return { version: '3.11', note: `the project asks for Python ${clause}; the closest fixwright has offline is 3.11` };
}

interface Found {
  deps: Array<{ req: string; from: string }>;
  python?: string;
  name?: string;
}

/** A TOML table or YAML mapping as parsed; every value is checked before it is used. */
type Table = Record<string, unknown>;

/** The table at `value`, or none when the file puts something else there. */
function tableAt(value: unknown): Table | undefined {
  return typeof value === 'object' && value !== null ? (value as Table) : undefined;
}

function fromPyproject(text: string, found: Found): void {
  let doc: Table;
  try {
    doc = tableAt(parseToml(text)) ?? {};
  } catch {
    return; // a broken pyproject.toml says nothing we can use; the other files still may
  }
  const project = tableAt(doc.project) ?? {};
  const requiresPython = project['requires-python'];
  if (typeof project.name === 'string') found.name = project.name;
  if (typeof requiresPython === 'string') found.python ??= requiresPython;
  for (const d of Array.isArray(project.dependencies) ? project.dependencies : [])
    found.deps.push({ req: String(d), from: 'pyproject.toml' });
  for (const [extra, list] of Object.entries(tableAt(project['optional-dependencies']) ?? {})) {
    if (TEST_EXTRAS.test(extra) && Array.isArray(list))
      for (const d of list) found.deps.push({ req: String(d), from: `pyproject.toml [${extra}]` });
  }
  for (const [group, list] of Object.entries(tableAt(doc['dependency-groups']) ?? {})) {
    if (TEST_EXTRAS.test(group) && Array.isArray(list))
      for (const d of list)
        if (typeof d === 'string') found.deps.push({ req: d, from: `pyproject.toml group ${group}` });
  }
  const poetry = tableAt(tableAt(doc.tool)?.poetry);
  if (poetry) {
    if (typeof poetry.name === 'string') found.name ??= poetry.name;
    const groups: Array<[string, Table]> = [
      ['dependencies', tableAt(poetry.dependencies) ?? {}],
      ['dev-dependencies', tableAt(poetry['dev-dependencies']) ?? {}],
    ];
    for (const [group, spec] of Object.entries(tableAt(poetry.group) ?? {}))
      if (TEST_EXTRAS.test(group)) groups.push([`group.${group}`, tableAt(tableAt(spec)?.dependencies) ?? {}]);
    for (const [where, deps] of groups) {
      for (const name of Object.keys(deps)) {
        if (name.toLowerCase() === 'python') found.python ??= String(deps[name]).replace(/^\^/, '>=');
        else found.deps.push({ req: name, from: `pyproject.toml [tool.poetry.${where}]` });
      }
    }
  }
}

function fromSetupCfg(text: string, found: Found): void {
  const s = iniSections(text);
  found.name ??= s.get('metadata')?.get('name')?.trim();
  found.python ??= s.get('options')?.get('python_requires')?.trim();
  for (const d of lines(s.get('options')?.get('install_requires') ?? ''))
    found.deps.push({ req: d, from: 'setup.cfg' });
  for (const [extra, list] of s.get('options.extras_require') ?? []) {
    if (TEST_EXTRAS.test(extra)) for (const d of lines(list)) found.deps.push({ req: d, from: `setup.cfg [${extra}]` });
  }
}

/**
 * setup.py is code: only literals are read (nothing runs), written in the call or in a module-level
 * constant the call names (`install_requires=INSTALL_REQUIRES`), which covers the common layouts.
 */
function fromSetupPy(text: string, found: Found): void {
  const strings = (body: string) => [...body.matchAll(/["']([^"'\n]+)["']/g)].map((m) => m[1]!);
  const literal = (key: string, open: '[' | '{') => {
    const close = open === '[' ? '\\]' : '\\}';
    const direct = text.match(new RegExp(`${key}\\s*=\\s*\\${open}([\\s\\S]*?)${close}`))?.[1];
    if (direct !== undefined) return direct;
    const name = text.match(new RegExp(`${key}\\s*=\\s*([A-Za-z_]\\w*)\\s*[,)]`))?.[1];
    return name ? text.match(new RegExp(`^${name}\\s*=\\s*\\${open}([\\s\\S]*?)${close}`, 'm'))?.[1] : undefined;
  };
  const constant = (key: string) => {
    const direct = text.match(new RegExp(`${key}\\s*=\\s*["']([^"']+)["']`))?.[1];
    const name =
      direct === undefined ? text.match(new RegExp(`${key}\\s*=\\s*([A-Za-z_]\\w*)\\s*[,)]`))?.[1] : undefined;
    return direct ?? (name ? text.match(new RegExp(`^${name}\\s*=\\s*["']([^"']+)["']`, 'm'))?.[1] : undefined);
  };
  found.name ??= constant('name');
  found.python ??= constant('python_requires');
  for (const key of ['install_requires', 'tests_require']) {
    const body = literal(key, '[');
    if (body) for (const d of strings(body)) found.deps.push({ req: d, from: `setup.py ${key}` });
  }
  const extras = literal('extras_require', '{');
  for (const m of extras?.matchAll(/["']([\w-]+)["']\s*:\s*\[([^\]]*)\]/g) ?? []) {
    if (TEST_EXTRAS.test(m[1]!))
      for (const d of strings(m[2]!)) found.deps.push({ req: d, from: `setup.py extras ${m[1]}` });
  }
}

function fromRequirements(path: string, texts: Record<string, string>, found: Found, seen = new Set<string>()): void {
  if (seen.has(path) || texts[path] === undefined) return;
  seen.add(path);
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
  for (const line of lines(texts[path]!)) {
    const include = line.match(/^\s*-r\s+(\S+)/);
    if (include) fromRequirements(`${dir}${include[1]}`.replace(/^\.\//, ''), texts, found, seen);
    else found.deps.push({ req: line, from: path });
  }
}

function fromTox(text: string, found: Found): void {
  const deps = iniSections(text).get('testenv')?.get('deps');
  for (const d of lines(deps ?? '')) found.deps.push({ req: d, from: 'tox.ini [testenv] deps' });
}

function fromCondaEnv(path: string, text: string, found: Found): void {
  let doc: Table | undefined;
  try {
    doc = tableAt(parseYaml(text));
  } catch {
    return;
  }
  const dependencies: unknown[] = Array.isArray(doc?.dependencies) ? doc.dependencies : [];
  for (const d of dependencies) {
    const pip = tableAt(d)?.pip;
    if (typeof d === 'string') {
      const [name, version] = d.split('=');
      if (name === 'python') found.python ??= version ? `>=${version}` : undefined;
      else if (name && !name.includes('::')) found.deps.push({ req: name, from: path });
    } else if (Array.isArray(pip)) {
      for (const p of pip) found.deps.push({ req: String(p), from: `${path} pip` });
    }
  }
}

/**
 * The requirement files that say what running the code and its tests needs: a root
 * requirements.txt and every file named for tests (docs, typing, lint and build lists are left out;
 * a test file may still include them with -r). A `.in` file wins over its compiled `.txt`, which
 * pins every transitive dependency.
 */
export function requirementFiles(paths: readonly string[]): string[] {
  const candidates = paths.filter((p) =>
    /(^|\/)[^/]*requirements?[^/]*\.(txt|in)$|^requirements\/[^/]+\.(txt|in)$/.test(p),
  );
  const wanted = candidates.filter((p) => {
    const base = p
      .split('/')
      .pop()!
      .replace(/\.(txt|in)$/, '');
    return (
      (p === 'requirements.txt' || p === 'requirements.in' || /test/i.test(base)) &&
      !(p.endsWith('.txt') && candidates.includes(p.replace(/\.txt$/, '.in')))
    );
  });
  return wanted.sort();
}

/** Packages of the project: top-level directories with an `__init__.py`, under `src/` for a src layout. */
function projectPackages(paths: readonly string[]): { packages: string[]; srcLayout: boolean; modules: string[] } {
  const inits = paths.filter((p) => /(^|\/)__init__\.py$/.test(p));
  const top = (prefix: string) =>
    [
      ...new Set(
        inits
          .filter((p) => p.startsWith(prefix) && p.slice(prefix.length).split('/').length === 2)
          .map((p) => p.slice(prefix.length).split('/')[0]!),
      ),
    ]
      .filter((name) => !NOT_PACKAGES.has(name.toLowerCase()) && /^[A-Za-z_]\w*$/.test(name))
      .sort();
  const src = top('src/');
  const modules = paths
    .filter((p) => /^[A-Za-z_]\w*\.py$/.test(p) && !/^(setup|conftest|noxfile|test_.*|.*_test)\.py$/.test(p))
    .map((p) => p.slice(0, -3));
  return src.length > 0
    ? { packages: src, srcLayout: true, modules: [] }
    : { packages: top(''), srcLayout: false, modules };
}

/** What inference found: a spec, the defaults a spec leaves open, and how each part was decided. */
export interface Inferred {
  spec: UserSpec;
  defaults: SpecDefaults;
  notes: string[];
}

/** The defaults for pythonpath and the health check's imports, from the tree's layout. */
export function layoutDefaults(files: ProjectFiles): SpecDefaults {
  const layout = projectPackages(files.paths);
  return { pythonpath: layout.srcLayout ? ['src'] : ['.'], imports: layout.packages.slice(0, 5) };
}

/**
 * An environment from the repository's own files (EnvBench's static recipe, read rather than run):
 * the Python version it declares, the dependencies of pyproject.toml, setup.cfg, setup.py,
 * requirements files, tox.ini and environment.yml (their test extras included), and its layout.
 */
export function inferEnvironment(files: ProjectFiles): Inferred {
  const found: Found = { deps: [] };
  const { texts } = files;
  if (texts['pyproject.toml']) fromPyproject(texts['pyproject.toml'], found);
  if (texts['setup.cfg']) fromSetupCfg(texts['setup.cfg'], found);
  if (texts['setup.py']) fromSetupPy(texts['setup.py'], found);
  for (const path of requirementFiles(Object.keys(texts))) fromRequirements(path, texts, found);
  if (texts['tox.ini']) fromTox(texts['tox.ini'], found);
  for (const path of ['environment.yml', 'environment.yaml']) if (texts[path]) fromCondaEnv(path, texts[path], found);

  const own = found.name ? requirementName(found.name) : undefined;
  const byName = new Map<string, { req: string; from: string }>();
  for (const { req, from } of found.deps) {
    const clean = cleanRequirement(req);
    const name = clean && requirementName(clean);
    if (!clean || !name || name === own || PROVIDED.has(name) || byName.has(name)) continue;
    byName.set(name, { req: clean, from });
  }
  const notes: string[] = [];
  let packages = [...byName.values()];
  if (packages.length > MAX_PACKAGES) {
    notes.push(`${packages.length} requirements found; the first ${MAX_PACKAGES} are installed`);
    packages = packages.slice(0, MAX_PACKAGES);
  }
  const python = pythonFor(found.python);
  if (python.note) notes.push(python.note);
  const defaults = layoutDefaults(files);
  const sources = [...new Set(packages.map((p) => p.from.split(' ')[0]))];
  notes.unshift(
    `inferred from the repository: Python ${python.version}${found.python ? ` (declared ${found.python})` : ''}; ` +
      `${packages.length} requirement(s)${sources.length ? ` from ${sources.join(', ')}` : ''}; ` +
      `importable through PYTHONPATH=${defaults.pythonpath.join(':')}`,
  );
  const spec: UserSpec = {
    python: python.version,
    packages: packages.map((p) => p.req),
    apt: [],
    pip: [],
    setup: [],
    test_env: {},
  };
  return { spec, defaults, notes };
}
