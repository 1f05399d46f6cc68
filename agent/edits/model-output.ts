/**
 * Reads the plain-text answer of a model into the blocks fixwright understands (the contract in
 * ARCHITECTURE.md): search/replace edits under a file-path line, `NO_EDITS` / `KEEP_PREVIOUS`
 * alone in a fence, and reproduction tests (a python fence whose first line is `# path.py`).
 * Prose around blocks, and blocks of other kinds, are ignored. Model output is untrusted input:
 * nothing here throws on odd text; problems come back as `problems`.
 */

/** One SEARCH/REPLACE pair for a file; an empty `search` creates a missing file. */
export interface SearchReplaceEdit {
  path: string;
  search: string;
  replace: string;
}

/** A test file the model wrote to reproduce the issue. */
export interface ReproductionTest {
  path: string;
  content: string;
}

/** A fenced block: its info string (language), its lines, and the prose line before it. */
export interface FencedBlock {
  lang: string;
  lines: string[];
  /** The last non-empty line before the fence, outside any fence. */
  lineBefore: string | undefined;
}

/** Everything found in one answer. */
export interface ParsedAnswer {
  edits: SearchReplaceEdit[];
  tests: ReproductionTest[];
  special: 'NO_EDITS' | 'KEEP_PREVIOUS' | undefined;
  /** Blocks that looked like edits but could not be read, each said plainly. */
  problems: string[];
  blocks: FencedBlock[];
}

const SEARCH = '<<<<<<< SEARCH';
const DIVIDER = '=======';
const REPLACE = '>>>>>>> REPLACE';

/** Splits text into fenced blocks (``` or longer runs, closed by the same run alone on a line). */
export function fencedBlocks(text: string): FencedBlock[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const blocks: FencedBlock[] = [];
  let lastProse: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*(`{3,}|~{3,})\s*([\w+.-]*)\s*$/.exec(lines[i]!);
    if (!open) {
      if (lines[i]!.trim()) lastProse = lines[i]!.trim();
      continue;
    }
    const fence = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() !== fence) body.push(lines[j++]!);
    blocks.push({ lang: open[2]!.toLowerCase(), lines: body, lineBefore: lastProse });
    lastProse = undefined;
    i = j;
  }
  return blocks;
}

/** The file path a line names, without the decoration models add (`**x.py**`, `` `x.py` ``, `File: x.py`). */
export function cleanPathLine(line: string | undefined): string | undefined {
  if (!line) return undefined;
  const path = line
    .trim()
    .replace(/^(?:#+\s*|[-*]\s+)/, '')
    .replace(/^(?:file(?:name)?|path)\s*:\s*/i, '')
    .replace(/^[*`'"]+|[*`'":]+$/g, '')
    .trim();
  return /^[\w./-][\w./ -]*$/.test(path) && !path.includes('  ') && /[\w]/.test(path) ? path : undefined;
}

function readSearchReplace(block: FencedBlock, problems: string[]): SearchReplaceEdit[] {
  const path = cleanPathLine(block.lineBefore);
  if (!path) {
    problems.push('a SEARCH/REPLACE block has no file path on the line before its fence');
    return [];
  }
  const edits: SearchReplaceEdit[] = [];
  let state: 'outside' | 'search' | 'replace' = 'outside';
  let search: string[] = [];
  let replace: string[] = [];
  for (const raw of block.lines) {
    const line = raw.trimEnd();
    if (state === 'outside') {
      if (line === SEARCH) {
        state = 'search';
        search = [];
        replace = [];
      }
    } else if (state === 'search') {
      if (line === DIVIDER) state = 'replace';
      else if (line === SEARCH || line === REPLACE) {
        problems.push(`${path}: a SEARCH section has no ======= divider`);
        return edits;
      } else search.push(raw);
    } else if (line === REPLACE) {
      const join = (xs: string[]) => (xs.length ? `${xs.join('\n')}\n` : '');
      edits.push({ path, search: join(search), replace: join(replace) });
      state = 'outside';
    } else if (line === SEARCH || line === DIVIDER) {
      problems.push(`${path}: a REPLACE section is not closed by >>>>>>> REPLACE`);
      return edits;
    } else replace.push(raw);
  }
  if (state !== 'outside')
    problems.push(`${path}: the block ends inside a ${state === 'search' ? 'SEARCH' : 'REPLACE'} section`);
  return edits;
}

/** Parses a model's answer into edits, reproduction tests and special answers. */
export function parseAnswer(text: string): ParsedAnswer {
  const blocks = fencedBlocks(text);
  const edits: SearchReplaceEdit[] = [];
  const tests: ReproductionTest[] = [];
  const problems: string[] = [];
  let special: ParsedAnswer['special'];
  for (const block of blocks) {
    const body = block.lines.map((l) => l.trimEnd());
    const content = body.join('\n').trim();
    if (content === 'NO_EDITS' || content === 'KEEP_PREVIOUS') {
      special ??= content;
      continue;
    }
    if (body.includes(SEARCH)) {
      edits.push(...readSearchReplace(block, problems));
      continue;
    }
    const first = /^#\s*([\w./-]+\.py)\s*$/.exec(body[0] ?? '');
    if ((block.lang === 'python' || block.lang === 'py') && first) {
      tests.push({ path: first[1]!, content: `${block.lines.slice(1).join('\n').replace(/\n*$/, '')}\n` });
    }
  }
  return { edits, tests, special, problems, blocks };
}
