/**
 * `node dist/perf/python-scan-check.js GIT_DIR[@REV] ...`: runs the hand-written Python scanner and
 * tree-sitter's `summarisePythonTree` over every Python blob a snapshot reads at REV (default HEAD) and
 * reports, per repository and in all: files, identical summaries, fallbacks (the scanner unsure, with
 * the commonest reasons), mismatches (with the first few differences) and each reader's time.
 * Exits 1 when any summary differs, so it can gate a change to the scanner.
 */
import { scanPython, type FileSummary, summarisePythonTree, readGitSnapshot } from '../localisation/index.js';

/** A summary as a string with a fixed key order, so equal summaries compare equal. */
export function canonicalSummary(s: FileSummary): string {
  return JSON.stringify({
    path: s.path,
    docstring: s.docstring ?? null,
    hasErrors: s.hasErrors,
    imports: s.imports.map((i) => [i.module, i.level, i.names]),
    symbols: s.symbols.map((x) => [x.kind, x.name, x.qualname, x.startLine, x.endLine, x.docstring ?? null]),
  });
}

/** The first point where two summaries differ, for the report. */
function firstDifference(scan: FileSummary, tree: FileSummary): string {
  if ((scan.docstring ?? null) !== (tree.docstring ?? null))
    return `module docstring ${JSON.stringify(scan.docstring)} vs ${JSON.stringify(tree.docstring)}`;
  if (scan.hasErrors !== tree.hasErrors) return `hasErrors ${scan.hasErrors} vs ${tree.hasErrors}`;
  const n = Math.max(scan.symbols.length, tree.symbols.length);
  for (let k = 0; k < n; k++) {
    const a = JSON.stringify(scan.symbols[k] ?? null);
    const b = JSON.stringify(tree.symbols[k] ?? null);
    if (a !== b) return `symbol ${k}: ${a.slice(0, 300)} vs ${b.slice(0, 300)}`;
  }
  const m = Math.max(scan.imports.length, tree.imports.length);
  for (let k = 0; k < m; k++) {
    const a = JSON.stringify(scan.imports[k] ?? null);
    const b = JSON.stringify(tree.imports[k] ?? null);
    if (a !== b) return `import ${k}: ${a} vs ${b}`;
  }
  return 'same';
}

interface Tally {
  files: number;
  identical: number;
  fallbacks: number;
  fallbackTreeErrors: number;
  mismatches: number;
  scanMs: number;
  treeMs: number;
}

async function main(): Promise<void> {
  const targets = process.argv.slice(2);
  if (!targets.length) {
    console.error('usage: python-scan-check GIT_DIR[@REV] ...');
    process.exit(2);
  }
  const total: Tally = {
    files: 0,
    identical: 0,
    fallbacks: 0,
    fallbackTreeErrors: 0,
    mismatches: 0,
    scanMs: 0,
    treeMs: 0,
  };
  const reasons = new Map<string, number>();
  const examples = new Map<string, string>();
  const shown: string[] = [];
  console.log(
    'repository | files | identical | fallbacks (tree-sitter errors among them) | mismatches | scanner ms | tree-sitter ms',
  );
  for (const target of targets) {
    const at = target.lastIndexOf('@');
    const [gitDir, rev] = at > 0 ? [target.slice(0, at), target.slice(at + 1)] : [target, 'HEAD'];
    const snapshot = await readGitSnapshot(gitDir, rev);
    const t: Tally = {
      files: 0,
      identical: 0,
      fallbacks: 0,
      fallbackTreeErrors: 0,
      mismatches: 0,
      scanMs: 0,
      treeMs: 0,
    };
    for (const file of snapshot.files) {
      t.files++;
      let start = performance.now();
      const scanned = scanPython(file.path, file.text);
      t.scanMs += performance.now() - start;
      start = performance.now();
      const tree = summarisePythonTree(file.path, file.text);
      t.treeMs += performance.now() - start;
      if ('unsure' in scanned) {
        t.fallbacks++;
        if (tree.hasErrors) t.fallbackTreeErrors++;
        reasons.set(scanned.unsure, (reasons.get(scanned.unsure) ?? 0) + 1);
        if (!examples.has(scanned.unsure)) examples.set(scanned.unsure, `${file.path}:${scanned.line}`);
        continue;
      }
      if (canonicalSummary(scanned.summary) === canonicalSummary(tree)) {
        t.identical++;
        continue;
      }
      t.mismatches++;
      if (shown.length < 12) shown.push(`${gitDir} ${file.path}: ${firstDifference(scanned.summary, tree)}`);
    }
    console.log(
      `${gitDir}@${rev} ` +
        `| ${t.files} | ${t.identical} | ${t.fallbacks} (${t.fallbackTreeErrors}) | ${t.mismatches} | ${t.scanMs.toFixed(0)} | ${t.treeMs.toFixed(0)}`,
    );
    for (const k of Object.keys(total) as Array<keyof Tally>) total[k] += t[k];
  }
  console.log(
    `all | ${total.files} ` +
      `| ${total.identical} ` +
      `| ${total.fallbacks} ` +
      `(${total.fallbackTreeErrors}` +
      `) ${((100 * total.fallbacks) / Math.max(1, total.files)).toFixed(2)}% | ${total.mismatches} | ${total.scanMs.toFixed(0)} | ${total.treeMs.toFixed(0)}`,
  );
  if (reasons.size) {
    console.log('fallback reasons:');
    for (const [why, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 15))
      console.log(`  ${n} ${why} (e.g. ${examples.get(why)})`);
  }
  if (shown.length) {
    console.log('first mismatches:');
    for (const line of shown) console.log(`  ${line}`);
  }
  process.exitCode = total.mismatches ? 1 : 0;
}

await main();
