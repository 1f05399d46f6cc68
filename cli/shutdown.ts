/** A long-running command's own shutdown (serve, worker): it gets its grace period, not 3 s. */
let handler: (() => Promise<void>) | undefined;

/** Lets a long-running command drain its work when SIGINT/SIGTERM arrives. */
export function onShutdown(next: () => Promise<void>): void {
  handler = next;
}

/** The registered shutdown, if a command registered one. */
export function shutdownHandler(): (() => Promise<void>) | undefined {
  return handler;
}
