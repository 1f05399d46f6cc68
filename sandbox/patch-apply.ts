import { checkPatch, type PatchFile, type PatchViolation } from './patch-policy.js';
import type { ExecResult, SandboxSession } from './session.js';

/** How applying a patch in a sandbox went. */
export type ApplyResult =
  | { ok: true; method: 'git apply' | 'patch --fuzz'; files: PatchFile[]; output: string }
  | { ok: false; reason: 'rejected'; violations: PatchViolation[]; message: string }
  | { ok: false; reason: 'does-not-apply'; files: PatchFile[]; message: string; output: string };

// -u: read unified hunks only (what checkPatch checked); no .orig/.rej files left in the tree.
const PATCH_ARGS = ['patch', '--batch', '-u', '--fuzz=5', '-p1', '--no-backup-if-mismatch', '--reject-file=-'] as const;
// Without it, `patch --batch` takes a hunk whose change is already there for a reversed one and undoes it.
const FORWARD = '--forward';

/** git's first error, the one that names the file and hunk that did not apply. */
function firstGitError(output: string): string {
  const errors = output.split('\n').filter((l) => l.startsWith('error:'));
  const first =
    errors.find((l) => /^error: (patch failed|.*: No such file|.*already exists)/.test(l)) ??
    errors[0] ??
    output.split('\n')[0] ??
    'unknown error';
  return first.replace(/^error:\s*/, '') || 'unknown error';
}

/**
 * Applies a unified diff to the sandbox's repository copy. The patch is checked against the path
 * rules first (nothing that breaks one reaches the container), then given to `git apply` on stdin:
 * one exec on the common path, since git checks every hunk before it writes anything and leaves
 * the tree untouched when one fails. When git refuses, `patch --fuzz` gets a dry run, as the
 * official SWE-bench harness does, before anything is written. `repoDir` lets the rules follow
 * symlinks that already exist in a host checkout. A hunk already applied is refused (`--forward`),
 * not reverted; `asHarness` keeps the official harness's flags exactly (its `patch --batch` reverts
 * such a hunk), for evaluation that must agree with it.
 */
export async function applyPatch(
  session: SandboxSession,
  patch: string,
  options: { repoDir?: string; timeoutSeconds?: number; asHarness?: boolean } = {},
): Promise<ApplyResult> {
  const { files, violations } = checkPatch(patch, options.repoDir);
  if (violations.length > 0) {
    const message = `patch rejected: ${violations.map((v) => `${v.message} [rule ${v.rule}]`).join('; ')}`;
    return { ok: false, reason: 'rejected', violations, message };
  }
  const timeoutSeconds = options.timeoutSeconds ?? 60;
  const stdin = patch.endsWith('\n') ? patch : `${patch}\n`;
  const exec = (argv: readonly string[]): Promise<ExecResult> => session.execTrusted(argv, { timeoutSeconds, stdin });

  const git = await exec(['git', 'apply', '--verbose', '-']);
  if (git.exitCode === 0) return { ok: true, method: 'git apply', files, output: git.stderr.text + git.stdout.text };
  const patchArgs = options.asHarness ? PATCH_ARGS : [...PATCH_ARGS, FORWARD];
  const dryRun = await exec([...patchArgs, '--dry-run']);
  if (dryRun.exitCode === 0) {
    const patched = await exec(patchArgs);
    if (patched.exitCode === 0) return { ok: true, method: 'patch --fuzz', files, output: patched.stdout.text };
  }
  const output = (git.stderr.text + git.stdout.text).trim();
  return {
    ok: false,
    reason: 'does-not-apply',
    files,
    message: `patch does not apply: ${firstGitError(output)}`,
    output,
  };
}
