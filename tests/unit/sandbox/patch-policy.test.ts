import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPatch } from '../../../sandbox/patch-policy.js';

const diff = (path: string, body = '@@ -1 +1 @@\n-a\n+b\n', newPath = path) =>
  `diff --git a/${path} b/${newPath}\n--- a/${path}\n+++ b/${newPath}\n${body}`;

const rules = (text: string, repoDir?: string) => checkPatch(text, repoDir).violations.map((v) => v.rule);

describe('checkPatch', () => {
  it('accepts an ordinary patch and lists its files', () => {
    const check = checkPatch(diff('pkg/calc.py') + diff('README.md'));
    expect(check.violations).toEqual([]);
    expect(check.files.map((f) => f.newPath)).toEqual(['pkg/calc.py', 'README.md']);
  });

  it('accepts new and deleted files', () => {
    const added =
      'diff --git a/new.py b/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+x = 1\n';
    const deleted =
      'diff --git a/old.py b/old.py\ndeleted file mode 100644\n--- a/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x = 1\n';
    const check = checkPatch(added + deleted);
    expect(check.violations).toEqual([]);
    expect(check.files).toEqual([
      { oldPath: 'new.py', newPath: 'new.py' },
      { oldPath: 'old.py', newPath: 'old.py' },
    ]);
  });

  it('rejects ../ with the parent-dir rule', () => {
    const check = checkPatch(diff('../etc/passwd'));
    expect(check.violations[0]?.rule).toBe('parent-dir');
    expect(check.violations[0]?.message).toContain("'../etc/passwd'");
  });

  it('rejects ../ hidden in plain ---/+++ headers', () => {
    expect(rules('--- a/x.py\n+++ b/../../x.py\n@@ -1 +1 @@\n-a\n+b\n')).toContain('parent-dir');
  });

  it('rejects absolute paths', () => {
    expect(rules('--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n')).toContain('absolute-path');
  });

  it('rejects .git/', () => {
    expect(rules(diff('.git/hooks/pre-commit'))).toEqual(['git-dir']);
    expect(rules(diff('sub/.git/config'))).toEqual(['git-dir']);
  });

  it('rejects renames that leave the repository', () => {
    const text = 'diff --git a/x.py b/x.py\nsimilarity index 100%\nrename from x.py\nrename to ../x.py\n';
    expect(rules(text)).toContain('parent-dir');
  });

  it('rejects binary patches', () => {
    expect(rules('diff --git a/img.png b/img.png\nindex 1..2 100644\nGIT binary patch\nliteral 5\nabc\n')).toContain(
      'binary',
    );
    expect(rules('diff --git a/img.png b/img.png\nBinary files a/img.png and b/img.png differ\n')).toContain('binary');
  });

  it('rejects a new symlink that points outside', () => {
    const text =
      'diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+../../etc/passwd\n\\ No newline at end of file\n';
    expect(rules(text)).toEqual(['symlink-escape']);
    const inside = text.replace('../../etc/passwd', 'pkg/mod.py');
    expect(rules(inside)).toEqual([]);
  });

  it('rejects a path through an existing symlink that escapes the repository', () => {
    const repo = mkdtempSync(join(tmpdir(), 'fw-patch-'));
    mkdirSync(join(repo, 'pkg'));
    writeFileSync(join(repo, 'pkg', 'a.py'), 'a\n');
    symlinkSync('/etc', join(repo, 'etc-link'));
    symlinkSync('pkg', join(repo, 'inner-link'));
    expect(rules(diff('etc-link/passwd'), repo)).toEqual(['symlink-escape']);
    expect(rules(diff('inner-link/a.py'), repo)).toEqual([]);
  });

  it('does not take a removed "-- " line for a header', () => {
    const body = '@@ -1,2 +1,2 @@\n--- this line starts with two dashes\n+++ and this one was added\n x\n';
    const check = checkPatch(diff('notes.txt', body));
    expect(check.violations).toEqual([]);
    expect(check.files).toHaveLength(1);
  });

  it('reads git-quoted paths', () => {
    const text =
      'diff --git "a/t\\303\\251st.py" "b/t\\303\\251st.py"\n--- "a/t\\303\\251st.py"\n+++ "b/t\\303\\251st.py"\n@@ -1 +1 @@\n-a\n+b\n';
    expect(checkPatch(text).files[0]?.newPath).toBe('tést.py');
  });

  it('checks every header: a benign ---/+++ pair cannot hide a bad diff --git or rename path', () => {
    expect(rules('diff --git a/../../tmp/evil b/../../tmp/evil\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n')).toContain(
      'parent-dir',
    );
    expect(
      rules('diff --git a/x b/x\nrename from ../../tmp/evil\nrename to x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n'),
    ).toContain('parent-dir');
  });

  it('refuses context-diff sections that patch(1) would read but the rules never saw', () => {
    const sneaky =
      diff('x.py') +
      '*** /dev/null\n--- b/.git/hooks/post-checkout\n***************\n*** 0 ****\n--- 1 ----\n+ echo pwned\n';
    expect(rules(sneaky)).toContain('malformed');
  });

  it('refuses new symlinks with any .. step, even ones that stay inside lexically', () => {
    const link = (name: string, target: string) =>
      `diff --git a/${name} b/${name}\nnew file mode 120000\n--- /dev/null\n+++ b/${name}\n@@ -0,0 +1 @@\n+${target}\n`;
    expect(rules(link('p', '.') + link('q', 'p/..'))).toEqual(['symlink-escape']);
  });

  it('says when there is nothing to apply', () => {
    expect(rules('')).toEqual(['empty']);
    expect(rules('just some prose\n')).toEqual(['malformed']);
  });

  it('notices a hunk cut short', () => {
    expect(rules(diff('x.py', '@@ -1,3 +1,3 @@\n-a\n+b\n'))).toContain('malformed');
  });
});
