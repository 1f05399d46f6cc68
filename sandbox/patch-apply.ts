import { checkPatch, type PatchFile, type PatchViolation } from './patch-policy.js';
import { SCRATCH_DIR } from './container-spec.js';
import type { SandboxSession } from './session.js';

/** How applying a patch in a sandbox went. */
export type ApplyResult =
  | { ok: true; method: 'git apply' | 'patch --fuzz'; files: PatchFile[]; output: string }
  | { ok: false; reason: 'rejected'; violations: PatchViolation[]; message: string }
  | { ok: false; reason: 'does-not-apply'; files: PatchFile[]; message: string; output: string };

const PATCH_FILE = `${SCRATCH_DIR}/patch.diff`;

/**
 * Applies a unified diff to the sandbox's repository copy. The patch is checked against the path
 * rules first (nothing that breaks one reaches the container), then `git apply --check`; when git
 * refuses, `patch --fuzz` gets a dry run, as the official SWE-bench harness does, before anything is
 * written. `repoDir` lets the rules follow symlinks that already exist in a host checkout.
 */
export async function applyPatch(session: SandboxSession, patch: string, options: { repoDir?: string; timeoutSeconds?: number } = {}): Promise<ApplyResult> {
  const { files, violations } = checkPatch(patch, options.repoDir);
  if (violations.length > 0) {
    const message = `patch rejected: ${violations.map((v) => `${v.message} [rule ${v.rule}]`).join('; ')}`;
    return { ok: false, reason: 'rejected', violations, message };
  }
  const timeoutSeconds = options.timeoutSeconds ?? 60;
  await session.putFiles(SCRATCH_DIR, { 'patch.diff': patch.endsWith('\n') ? patch : `${patch}\n` });

  const gitCheck = await session.execTrusted(['git', 'apply', '--check', '--verbose', PATCH_FILE], { timeoutSeconds });
  if (gitCheck.exitCode === 0) {
    const applied = await session.execTrusted(['git', 'apply', '--verbose', PATCH_FILE], { timeoutSeconds });
    if (applied.exitCode === 0) return { ok: true, method: 'git apply', files, output: applied.stderr.text + applied.stdout.text };
  }
  // -u: read unified hunks only (what checkPatch checked); no .orig/.rej files left in the tree.
  const patchArgs = ['patch', '--batch', '-u', '--fuzz=5', '-p1', '--no-backup-if-mismatch', '--reject-file=-', '-i', PATCH_FILE];
  const dryRun = await session.execTrusted([...patchArgs, '--dry-run'], { timeoutSeconds });
  if (dryRun.exitCode === 0) {
    const patched = await session.execTrusted(patchArgs, { timeoutSeconds });
    if (patched.exitCode === 0) return { ok: true, method: 'patch --fuzz', files, output: patched.stdout.text };
  }
  const output = (gitCheck.stderr.text + gitCheck.stdout.text).trim();
  const errors = output.split('\n').filter((l) => l.startsWith('error:'));
  const firstError = errors.find((l) => /^error: (patch failed|.*: No such file|.*already exists)/.test(l)) ?? errors[0] ?? output.split('\n')[0] ?? 'unknown error';
  return { ok: false, reason: 'does-not-apply', files, message: `patch does not apply: ${firstError.replace(/^error:\s*/, '')}`, output };
}
