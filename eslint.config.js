// Lint for the whole tree: typescript-eslint's recommended rules, the line-length limit Prettier
// cannot enforce (long strings and comments), and the stage boundary rule (scripts/eslint/).
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import stageBoundaries from './scripts/eslint/stage-boundaries.js';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', 'tests/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    plugins: { '@stylistic': stylistic, fixwright: { rules: { 'stage-boundaries': stageBoundaries } } },
    rules: {
      '@stylistic/max-len': ['error', { code: 160, ignoreUrls: true, ignoreRegExpLiterals: true }],
      'fixwright/stage-boundaries': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  { files: ['web/src/**'], languageOptions: { globals: { ...globals.browser } } },
);
