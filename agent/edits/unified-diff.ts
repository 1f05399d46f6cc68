import { structuredPatch } from 'diff';

/** A file's text before and after an edit (undefined: the file does not exist on that side). */
export interface FileChange {
  path: string;
  before: string | undefined;
  after: string | undefined;
}

/** Writes changes as a git-style unified diff (3 lines of context), as `git diff` would. */
export function toUnifiedDiff(changes: readonly FileChange[]): string {
  const out: string[] = [];
  for (const change of changes) {
    if (change.before === change.after) continue;
    const patch = structuredPatch(change.path, change.path, change.before ?? '', change.after ?? '', '', '', {
      context: 3,
    });
    if (patch.hunks.length === 0) continue;
    out.push(`diff --git a/${change.path} b/${change.path}`);
    if (change.before === undefined) out.push('new file mode 100644');
    if (change.after === undefined) out.push('deleted file mode 100644');
    out.push(change.before === undefined ? '--- /dev/null' : `--- a/${change.path}`);
    out.push(change.after === undefined ? '+++ /dev/null' : `+++ b/${change.path}`);
    for (const hunk of patch.hunks) {
      // Git numbers an empty side from 0 (`-0,0`), as jsdiff's own formatter does.
      const oldStart = hunk.oldLines === 0 ? hunk.oldStart - 1 : hunk.oldStart;
      const newStart = hunk.newLines === 0 ? hunk.newStart - 1 : hunk.newStart;
      out.push(`@@ -${oldStart},${hunk.oldLines} +${newStart},${hunk.newLines} @@`);
      out.push(...hunk.lines);
    }
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
