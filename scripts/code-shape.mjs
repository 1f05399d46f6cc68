#!/usr/bin/env node
// Prints the shape a maintainer meets: the largest functions (lines from signature to closing
// brace, as formatted) and the imports that cross from one stage (top-level folder) into another,
// split into those through the stage's index.ts and those reaching inside it.
// Usage: node scripts/code-shape.mjs [ROOT] [--top N] [--json]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import ts from 'typescript';
import { ENTRY_POINTS } from './eslint/stage-boundaries.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 15;
const root = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--top') ?? process.cwd();
const NOT_STAGES = new Set(['tests', 'scripts', 'node_modules', 'dist', 'coverage', 'docs']);

function* sources(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!NOT_STAGES.has(name) && !name.startsWith('.')) yield* sources(path);
    } else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts') && dir !== root) yield path;
  }
}

const functions = [];
const crossing = { viaIndex: 0, viaEntry: 0, deep: 0, pairs: {} };
// The modules besides each index.ts that the boundary rule lets other stages import.
const entryModules = new Set([...ENTRY_POINTS].map((p) => p.replace(/\.tsx?$/, '')));
for (const path of sources(root)) {
  const file = relative(root, path);
  const stage = file.split(sep)[0];
  const text = readFileSync(path, 'utf8');
  const sf = ts.createSourceFile(
    file,
    text,
    ts.ScriptTarget.Latest,
    true,
    file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  const lineOf = (pos) => sf.getLineAndCharacterOfPosition(pos).line;
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const lines = lineOf(node.end) - lineOf(node.getStart(sf)) + 1;
      const name =
        node.name?.getText(sf) ??
        (ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(sf) : '(anonymous)');
      functions.push({ file, name, line: lineOf(node.getStart(sf)) + 1, lines });
    }
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const spec = node.moduleSpecifier.text;
      if (spec.startsWith('.')) {
        const target = normalize(join(dirname(file), spec));
        const to = target.split(sep)[0];
        if (to !== stage && !to.startsWith('..') && target.includes(sep) && !NOT_STAGES.has(to)) {
          const module = target
            .replace(/\.(js|ts|tsx)$/, '')
            .split(sep)
            .join('/');
          const kind = module === `${to}/index` ? 'viaIndex' : entryModules.has(module) ? 'viaEntry' : 'deep';
          crossing[kind]++;
          const key = `${stage} → ${to}`;
          crossing.pairs[key] ??= { viaIndex: 0, viaEntry: 0, deep: 0 };
          crossing.pairs[key][kind]++;
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
functions.sort((a, b) => b.lines - a.lines);
const largest = functions.slice(0, top);
if (json) {
  console.log(
    JSON.stringify(
      { largest, functions: functions.length, over60: functions.filter((f) => f.lines > 60).length, crossing },
      null,
      2,
    ),
  );
} else {
  console.log(
    `largest functions (of ${functions.length}; ${functions.filter((f) => f.lines > 60).length} over 60 lines):`,
  );
  for (const f of largest) console.log(`  ${String(f.lines).padStart(4)}  ${f.file}:${f.line}  ${f.name}`);
  const total = crossing.viaIndex + crossing.viaEntry + crossing.deep;
  console.log(
    `cross-stage imports: ${total} (${crossing.viaIndex} through an index.ts, ${crossing.viaEntry} through a named ` +
      `entry point of scripts/eslint/stage-boundaries.js, ${crossing.deep} reaching inside)`,
  );
  for (const [pair, n] of Object.entries(crossing.pairs).sort())
    if (n.deep || n.viaEntry)
      console.log(
        `  ${pair}: ${n.deep} inside, ${n.viaEntry} through named entry points, ${n.viaIndex} through index.ts`,
      );
}
