import { join } from 'node:path';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, it } from 'vitest';
import stageBoundaries from '../../scripts/eslint/stage-boundaries.js';

// The rule works out stages from paths relative to the repository, so every case names a file in it.
const root = join(import.meta.dirname, '..', '..');
const at = (path: string) => join(root, path);

RuleTester.describe = describe;
RuleTester.it = it;

// The parser the lint itself uses (eslint.config.js), so `import type` and TypeScript syntax parse.

const tester = new RuleTester({ languageOptions: { parser: tseslint.parser, sourceType: 'module' } });

const deep = (source: string, stage: string, entry: string) => ({
  messageId: 'deep',
  data: { source, stage, entry },
});

tester.run('stage-boundaries', stageBoundaries, {
  valid: [
    // Inside its own stage a module reaches any file it needs.
    { code: "import { tokenize } from '../tokenize.js';", filename: at('localisation/embeddings/lsi.ts') },
    { code: "import { graph } from './nodes/context.js';", filename: at('agent/graph.ts') },
    // Another stage through its index.
    { code: "import { Localiser } from '../localisation/index.js';", filename: at('agent/parts.ts') },
    { code: "export { FixwrightError } from '../../core/index.js';", filename: at('sandbox/images/x.ts') },
    // A named entry point listed in the rule.
    { code: "import { startInstanceWorker } from '../benchmarks/queue/index.js';", filename: at('api/worker.ts') },
    { code: "import type { Logger } from '../core/logger.js';", filename: at('api/server.ts') },
    // Tests and scripts may reach anywhere; packages are no stage.
    { code: "import { tokenize } from '../../localisation/tokenize.js';", filename: at('tests/unit/x.test.ts') },
    { code: "import { x } from '../sandbox/session.js';", filename: at('scripts/check.ts') },
    { code: "import { pino } from 'pino';", filename: at('core/logger.ts') },
    // A template without expressions is a written-out path; a declaration imports nothing.
    { code: 'const m = await import(`../../agent/index.js`);', filename: at('cli/commands/solve.ts') },
    { code: 'export const x = 1;', filename: at('agent/x.ts') },
    // The web UI reads the wire contract.
    { code: "import type { AgentEvent } from '../../events/index.js';", filename: at('web/src/timeline.ts') },
  ],
  invalid: [
    {
      code: "import { tokenize } from '../../localisation/tokenize.js';",
      filename: at('agent/nodes/context.ts'),
      errors: [deep('../../localisation/tokenize.js', 'localisation', '../../localisation/index.js')],
    },
    {
      code: "export { FixwrightError } from '../core/errors.js';",
      filename: at('sandbox/index.ts'),
      errors: [deep('../core/errors.js', 'core', '../core/index.js')],
    },
    {
      code: "export * from '../sandbox/session.js';",
      filename: at('quickfix/x.ts'),
      errors: [deep('../sandbox/session.js', 'sandbox', '../sandbox/index.js')],
    },
    {
      // A sub-folder's index.ts is internal unless the rule names it.
      code: "import { runEditBench } from '../../quickfix/edit-bench/index.js';",
      filename: at('cli/commands/edit-bench.ts'),
      errors: [deep('../../quickfix/edit-bench/index.js', 'quickfix', '../../quickfix/index.js')],
    },
    {
      code: "const m = await import('../../benchmarks/dataset.js');",
      filename: at('cli/commands/localise.ts'),
      errors: [deep('../../benchmarks/dataset.js', 'benchmarks', '../../benchmarks/index.js')],
    },
    {
      // A computed path could reach anywhere.
      code: 'const m = await import(`./commands/${name}.js`);',
      filename: at('cli/main.ts'),
      errors: [{ messageId: 'computed' }],
    },
    {
      // Even a stage's index is server code to the browser bundle.
      code: "import type { TaskRecord } from '../../../api/index.js';",
      filename: at('web/src/components/task-view.tsx'),
      errors: [{ messageId: 'browser', data: { source: '../../../api/index.js' } }],
    },
    {
      // Two imports, two reports.
      code: "import { a } from '../api/server.js';\nimport { b } from '../sandbox/pool.js';",
      filename: at('perf/api.ts'),
      errors: [
        deep('../api/server.js', 'api', '../api/index.js'),
        deep('../sandbox/pool.js', 'sandbox', '../sandbox/index.js'),
      ],
    },
  ],
});
