import type { FileSummary } from './python-parse.js';

/** Directories that hold a package without being part of its import name. */
const SOURCE_ROOTS = new Set(['src', 'lib']);

/** The dotted module names a file can be imported as (`src/_pytest/x.py` → `src._pytest.x`, `_pytest.x`). */
export function moduleNames(path: string): string[] {
  const parts = path.replace(/\.py$/, '').split('/');
  if (parts[parts.length - 1] === '__init__') parts.pop();
  if (parts.length === 0) return [];
  const names = [parts.join('.')];
  if (parts.length > 1 && SOURCE_ROOTS.has(parts[0]!)) names.push(parts.slice(1).join('.'));
  return names;
}

/** Maps module names to the file that defines them. */
export function moduleIndex(paths: readonly string[]): Map<string, string> {
  const index = new Map<string, string>();
  for (const path of paths) {
    for (const name of moduleNames(path)) {
      // A package's __init__.py and a same-named module cannot both exist; first one wins.
      if (!index.has(name)) index.set(name, path);
    }
  }
  return index;
}

function packageOf(path: string): string[] {
  const parts = path.split('/');
  parts.pop();
  return parts;
}

/** Resolves a file's imports to files of the same repository (standard library and third-party imports drop out). */
export function resolveImports(summary: FileSummary, modules: Map<string, string>): string[] {
  return resolveWith(summary, (name) => modules.get(name));
}

/** `resolveImports` with the module names looked up through `lookup` (which may note them). */
function resolveWith(summary: FileSummary, lookup: (name: string) => string | undefined): string[] {
  const targets = new Set<string>();
  for (const imp of summary.imports) {
    let base: string;
    if (imp.level > 0) {
      const pkg = packageOf(summary.path);
      const up = pkg.slice(0, Math.max(0, pkg.length - (imp.level - 1)));
      base = [...up, ...(imp.module ? imp.module.split('.') : [])].join('.');
      // Relative names must be tried with and without a source root prefix.
      const candidates = [
        base,
        ...(up.length && SOURCE_ROOTS.has(up[0]!)
          ? [[...up.slice(1), ...(imp.module ? imp.module.split('.') : [])].join('.')]
          : []),
      ];
      base =
        candidates.find((c) => lookup(c)) ?? candidates.find((c) => imp.names.some((n) => lookup(`${c}.${n}`))) ?? base;
    } else {
      base = imp.module;
    }
    let matchedSubmodule = false;
    for (const name of imp.names) {
      const sub = lookup(base ? `${base}.${name}` : name);
      if (sub) {
        targets.add(sub);
        matchedSubmodule = true;
      }
    }
    const direct = lookup(base);
    if (direct && (!matchedSubmodule || imp.names.length > 1)) targets.add(direct);
    if (!direct && imp.level === 0) {
      // `import a.b.c` where only a.b exists as a file (c is an attribute).
      const parts = base.split('.');
      while (parts.length > 1) {
        parts.pop();
        const parent = lookup(parts.join('.'));
        if (parent) {
          targets.add(parent);
          break;
        }
      }
    }
  }
  targets.delete(summary.path);
  return [...targets];
}

/** The repository's import graph: for each file, the files it imports. */
export function buildImportGraph(summaries: readonly FileSummary[]): Map<string, string[]> {
  const modules = moduleIndex(summaries.map((s) => s.path));
  return new Map(summaries.map((s) => [s.path, resolveImports(s, modules)]));
}

/**
 * Builds import graphs one snapshot after another, resolving again only the files whose
 * resolution may differ from the last graph's: a file's targets depend only on its path, its
 * imports and the answers to the module names it looked up, so a file at the same path with the
 * same imports (the same parsed blob) whose names all map as before keeps its targets. The next
 * commit of a repository resolves its changed files and those looking up an added or removed
 * module; the graph equals `buildImportGraph`'s.
 */
export class ImportGraphBuilder {
  private modules = new Map<string, string>();
  private files = new Map<string, { imports: FileSummary['imports']; names: string[]; targets: string[] }>();

  graph(summaries: readonly FileSummary[]): Map<string, string[]> {
    const modules = moduleIndex(summaries.map((s) => s.path));
    const moved = new Set<string>();
    for (const [name, path] of modules) if (this.modules.get(name) !== path) moved.add(name);
    for (const name of this.modules.keys()) if (!modules.has(name)) moved.add(name);
    const files = new Map<string, { imports: FileSummary['imports']; names: string[]; targets: string[] }>();
    const graph = new Map<string, string[]>();
    for (const s of summaries) {
      let file = this.files.get(s.path);
      if (!file || file.imports !== s.imports || file.names.some((n) => moved.has(n))) {
        const names: string[] = [];
        const targets = resolveWith(s, (name) => (names.push(name), modules.get(name)));
        file = { imports: s.imports, names, targets };
      }
      files.set(s.path, file);
      // A copy: a graph handed out may be changed by its holder without reaching the next one.
      graph.set(s.path, [...file.targets]);
    }
    this.modules = modules;
    this.files = files;
    return graph;
  }
}
