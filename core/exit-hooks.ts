/**
 * Work a module must finish before the process exits (sandboxes to remove), registered when the
 * module loads: the CLI runs them at exit without loading modules a command never used.
 */
const hooks = new Set<() => Promise<void>>();

/** Runs `hook` before the process exits, normally or on a signal. */
export function beforeExit(hook: () => Promise<void>): void {
  hooks.add(hook);
}

/** Runs every registered hook; one that fails does not stop the others. */
export async function runExitHooks(): Promise<void> {
  await Promise.allSettled([...hooks].map((hook) => hook()));
}
