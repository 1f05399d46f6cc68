import type { TestEnvironment } from '../../sandbox/index.js';

/** A test environment as the sandbox's environment layer resolves one: pytest from the checkout's root, nothing else, unless `over` says otherwise. */
export const testEnvironment = (over: Partial<TestEnvironment> = {}): TestEnvironment => ({
  source: 'inferred',
  key: 'inferred',
  image: null,
  pythonpath: ['.'],
  testCmd: ['python3', '-m', 'pytest', '-rA'],
  testEnv: {},
  parser: 'pytest',
  directives: 'paths',
  files: {},
  helpers: {},
  imports: [],
  notes: [],
  ...over,
});
