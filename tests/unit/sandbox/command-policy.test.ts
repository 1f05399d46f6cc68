import { describe, expect, it } from 'vitest';
import { createCommandPolicy } from '../../../sandbox/command-policy.js';

describe('command policy', () => {
  const policy = createCommandPolicy(['python3', 'pytest', 'git']);
  it('allows listed programs', () => {
    expect(() => policy.check(['python3', '-c', 'print(1)'])).not.toThrow();
  });
  it('refuses other programs, naming the allowlist', () => {
    expect(() => policy.check(['sh', '-c', 'id'])).toThrow(/program 'sh' is not allowed.*python3, pytest, git/);
  });
  it('refuses paths, even to an allowed name', () => {
    expect(() => policy.check(['./python3'])).toThrow(/is a path/);
    expect(() => policy.check(['/usr/bin/python3'])).toThrow(/is a path/);
  });
  it('refuses an empty command', () => {
    expect(() => policy.check([])).toThrow(/no command given/);
  });
});
