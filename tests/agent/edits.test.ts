import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { answerToDiff, lineRangeToDiff, parseAnswer } from '../../agent/edits/index.js';

const CALC =
  'def add(a, b):\n    """Add.\n\n    =======\n    Notes\n    """\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n';
const files: Record<string, string> = { 'calc.py': CALC, 'util.py': 'X = 1\nY = 2\nX = 1\n' };
const read = (path: string) => files[path];

const block = (path: string, search: string, replace: string) =>
  `${path}\n\`\`\`python\n<<<<<<< SEARCH\n${search}=======\n${replace}>>>>>>> REPLACE\n\`\`\`\n`;

describe('parseAnswer', () => {
  it('reads edits among prose and other blocks, with the divider only as a whole line', () => {
    const answer =
      `I will fix ` +
      `it.\n\n${block('calc.py', '    =======\n    return a - b\n', '    =======\n    return a + b\n')}` +
      `\nAnd a test:\n\`\`\`python\n# tests/test_repro.py\nfrom calc import add\n\ndef test_add():\n ` +
      `   assert add(1, 2) == 3\n\`\`\`\n\`\`\`bash\nrm -rf /\n\`\`\``;
    const parsed = parseAnswer(answer);
    expect(parsed.edits).toEqual([
      { path: 'calc.py', search: '    =======\n    return a - b\n', replace: '    =======\n    return a + b\n' },
    ]);
    expect(parsed.tests).toEqual([
      { path: 'tests/test_repro.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n' },
    ]);
    expect(parsed.problems).toEqual([]);
  });

  it('strips decoration from the path line and reads several blocks in one fence', () => {
    const answer =
      '**`util.py`**\n```\n<<<<<<< SEARCH\nY = 2\n=======\nY = 3\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nX = 1\nY = 3\n=======\nX = 0\nY = 3\n>>>>>>> REPLACE\n```';
    expect(parseAnswer(answer).edits.map((e) => e.path)).toEqual(['util.py', 'util.py']);
  });

  it('says what is wrong with a broken block', () => {
    expect(parseAnswer('calc.py\n```\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n```').problems[0]).toMatch(
      /no ======= divider/,
    );
    expect(parseAnswer('```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```').problems[0]).toMatch(/no file path/);
    expect(parseAnswer('calc.py\n```\n<<<<<<< SEARCH\nx\n=======\ny\n```').problems[0]).toMatch(
      /ends inside a REPLACE section/,
    );
  });
});

describe('answerToDiff', () => {
  it('turns search/replace into a unified diff that git applies', () => {
    const outcome = answerToDiff(block('calc.py', '    return a - b\n', '    return a + b\n'), read);
    expect(outcome.kind).toBe('diff');
    if (outcome.kind !== 'diff') return;
    expect(outcome.diff).toContain('diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -4,7 +4,7 @@');
    const dir = mkdtempSync(join(tmpdir(), 'fw-edit-'));
    writeFileSync(join(dir, 'calc.py'), CALC);
    writeFileSync(join(dir, 'p.diff'), outcome.diff);
    execFileSync('git', ['apply', 'p.diff'], { cwd: dir });
    expect(readFileSync(join(dir, 'calc.py'), 'utf8')).toBe(CALC.replace('a - b', 'a + b'));
  });

  it('tolerates trailing whitespace, creates missing files, and applies several edits in order', () => {
    const tolerant = answerToDiff(block('calc.py', '    return a - b   \n', '    return a + b\n'), read);
    expect(tolerant.kind).toBe('diff');
    const created = answerToDiff(block('pkg/new.py', '', 'VALUE = 1\n'), read);
    expect(created.kind === 'diff' && created.diff).toContain(
      'new file mode 100644\n--- /dev/null\n+++ b/pkg/new.py\n@@ -0,0 +1,1 @@\n+VALUE = 1',
    );
    const ordered = answerToDiff(
      block('util.py', 'Y = 2\n', 'Y = 3\n') + block('util.py', 'Y = 3\nX = 1\n', 'Y = 3\nX = 9\n'),
      read,
    );
    expect(ordered.kind === 'diff' && ordered.changes[0]?.after).toBe('X = 1\nY = 3\nX = 9\n');
  });

  it('returns each failure as its category', () => {
    expect(answerToDiff(block('calc.py', '    return a / b\n', 'x\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'search_not_found',
    });
    expect(answerToDiff(block('util.py', 'X = 1\n', 'X = 2\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'ambiguous_match',
      message: expect.stringMatching(/matches 2 places/),
    });
    expect(answerToDiff(block('calc.py', '    return a - b\n', '    return (a +\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'syntax_error',
    });
    expect(answerToDiff(block('../etc/passwd', '', 'x\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'path_outside_repo',
    });
    expect(answerToDiff(block('.git/config', '', 'x\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'path_outside_repo',
    });
    expect(answerToDiff(block('calc.py', '    return a - b\n', '    return a - b\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'no_change',
    });
    expect(answerToDiff('I am not sure what to do.', read)).toMatchObject({
      kind: 'failed',
      category: 'malformed_output',
    });
  });

  it('refuses edits to test files (they could hide a regression or smuggle a test into the patch)', () => {
    expect(answerToDiff(block('tests/test_calc.py', 'x\n', 'y\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'edits_tests',
    });
    expect(answerToDiff(block('tests/test_new.py', '', 'def test_x():\n    pass\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'edits_tests',
    });
    expect(answerToDiff(block('conftest.py', '', 'x = 1\n'), read)).toMatchObject({
      kind: 'failed',
      category: 'edits_tests',
    });
  });

  it('never reads a path that breaks the rules', () => {
    const seen: string[] = [];
    answerToDiff(block('/etc/passwd', 'root\n', 'x\n'), (p) => (seen.push(p), undefined));
    expect(seen).toEqual([]);
  });

  it('understands NO_EDITS and KEEP_PREVIOUS', () => {
    expect(answerToDiff('Nothing to change.\n```\nNO_EDITS\n```', read)).toEqual({ kind: 'no_edits', tests: [] });
    expect(answerToDiff('```\nKEEP_PREVIOUS\n```', read)).toEqual({ kind: 'keep_previous' });
  });
});

describe('lineRangeToDiff', () => {
  const code = 'a = 1\nb = 2\nc = 3\n';
  it('replaces, inserts after a line, and inserts at the top', () => {
    const replaced = lineRangeToDiff('x.py', code, '@@ 2-2\n-b = 2\n+b = 20\n');
    expect(replaced.kind === 'diff' && replaced.changes[0]?.after).toBe('a = 1\nb = 20\nc = 3\n');
    const inserted = lineRangeToDiff('x.py', code, '```\n@@ 3-3\n+d = 4\n```');
    expect(inserted.kind === 'diff' && inserted.changes[0]?.after).toBe('a = 1\nb = 2\nc = 3\nd = 4\n');
    const top = lineRangeToDiff('x.py', code, '@@ 0-0\n+import os\n@@ 1-2\n-a = 1\n-b = 2\n+ab = 3\n');
    expect(top.kind === 'diff' && top.changes[0]?.after).toBe('import os\nab = 3\nc = 3\n');
  });
  it('refuses - lines that do not match, ranges out of the file, and overlaps', () => {
    expect(lineRangeToDiff('x.py', code, '@@ 2-2\n-b = 9\n+b = 3\n')).toMatchObject({
      kind: 'failed',
      category: 'search_not_found',
    });
    expect(lineRangeToDiff('x.py', code, '@@ 4-5\n-x\n+y\n')).toMatchObject({
      kind: 'failed',
      category: 'malformed_output',
    });
    expect(
      lineRangeToDiff('x.py', code, '@@ 1-2\n-a = 1\n-b = 2\n+x = 0\n@@ 2-3\n-b = 2\n-c = 3\n+y = 0\n'),
    ).toMatchObject({ kind: 'failed', category: 'ambiguous_match' });
    expect(lineRangeToDiff('x.py', code, 'no edit here')).toMatchObject({
      kind: 'failed',
      category: 'malformed_output',
    });
  });
});
