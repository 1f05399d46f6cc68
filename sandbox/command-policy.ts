import { FixwrightError } from '../core/index.js';

/**
 * Which programs a caller may start in a sandbox. This is policy, not the security boundary (the
 * container is): it keeps agents and users to the tools a repair needs. Programs are bare names
 * resolved on the image's PATH — a path such as ./python3 could name a file the repository ships.
 */
export interface CommandPolicy {
  readonly allowed: readonly string[];
  /** Throws FW_ERR_COMMAND_NOT_ALLOWED unless argv[0] is an allowed program. */
  check(argv: readonly string[]): void;
}

/** Builds the policy for an allowlist of bare program names. */
export function createCommandPolicy(allowed: readonly string[]): CommandPolicy {
  const set = new Set(allowed);
  return {
    allowed: [...allowed],
    check(argv) {
      const program = argv[0];
      if (program === undefined || program === '') {
        throw new FixwrightError('FW_ERR_BAD_INPUT', 'no command given: put the program and its arguments after --', {
          field: 'command',
        });
      }
      if (program.includes('/')) {
        throw new FixwrightError(
          'FW_ERR_COMMAND_NOT_ALLOWED',
          `command '${program}' is a path; name the program instead (allowed: ${[...set].join(', ')})`,
          { field: 'command' },
        );
      }
      if (!set.has(program)) {
        throw new FixwrightError(
          'FW_ERR_COMMAND_NOT_ALLOWED',
          `program '${program}' is not allowed in the sandbox (allowed: ${[...set].join(', ')}); ` +
            `if you trust it, pass the whole list with --allow ${[...set, program].join(',')} (or FIXWRIGHT_SANDBOX_ALLOW)`,
          { field: 'command' },
        );
      }
    },
  };
}
