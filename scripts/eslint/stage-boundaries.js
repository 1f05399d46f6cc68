// ESLint rule: a stage (a top-level folder such as agent/ or sandbox/) is used by the other stages
// only through its index.ts. Reaching past it couples a caller to a stage's internals, so a
// refactor inside one stage breaks another; this rule makes that a lint error instead.
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folders that are not stages: tests and scripts may reach anywhere they need to. */
const NOT_STAGES = new Set(['tests', 'scripts', 'node_modules', 'dist']);

/**
 * The few modules besides a stage's index.ts that other stages may import. ESM evaluates every
 * module an index re-exports, so each of these is a part that light callers (`fixwright localise`,
 * `fixwright --version`, the editor's quick fixes) must be able to use, or to avoid, on its own.
 */
export const ENTRY_POINTS = new Set([
  // pino: the CLI's start-up (core/index.ts) must not load it; only commands that log build a logger.
  'core/logger.ts',
  // prom-client: the registry is only for stages that serve or record metrics, never for start-up.
  'core/metrics.ts',
  // ioredis and a redis-server process, for the API benchmark and tests only.
  'core/local-redis.ts',
  // GitHub issues and clones, for `fixwright localise`, which must not load LangGraph (agent/index.ts).
  'agent/github.ts',
  // Grading SWE-bench runs needs the Docker sandbox; benchmarks/index.ts serves `localise` without it.
  'benchmarks/eval/index.ts',
  // apache-arrow and hyparquet read SWE-bench's parquet files; `fixwright edit` loads eval/ (through cli/flags.ts), not them.
  'benchmarks/eval/instances.ts',
  // Solving a dataset runs the agent (LangGraph), which neither evaluation nor `localise` loads.
  'benchmarks/run/index.ts',
  // BullMQ and Redis, for runs spread over `fixwright worker` processes only.
  'benchmarks/queue/index.ts',
]);

/** The stage a repository-relative path belongs to, or undefined for files at the root or outside stages. */
function stageOf(path) {
  const parts = path.split(sep);
  if (parts.length < 2 || parts[0] === '..' || NOT_STAGES.has(parts[0])) return undefined;
  return parts[0];
}

/** A module path without its extension: sources import `x.js` for the file `x.ts`. */
const withoutExtension = (path) => path.replace(/\.(js|ts|tsx|mjs)$/, '');

const ENTRY_MODULES = new Set([...ENTRY_POINTS].map((p) => withoutExtension(p.split('/').join(sep))));

/** An import's path when it is written out (a string, or a template without expressions), else undefined. */
function literalSource(node) {
  if (node?.type === 'Literal') return typeof node.value === 'string' ? node.value : undefined;
  if (node?.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0].value.cooked;
  return undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'import another stage only through its index.ts (its public surface)' },
    schema: [],
    messages: {
      deep: "'{{source}}' reaches inside the {{stage}}/ stage: import it from '{{entry}}' (export what you need from {{stage}}/index.ts)",
      computed: 'import() with a computed path: name the module literally, so the stage boundaries can be checked',
      browser:
        "'{{source}}': the web UI imports other stages only through events/index.ts (the bundle must hold no server code)",
    },
  },
  create(context) {
    const file = relative(ROOT, context.filename);
    const own = stageOf(file);
    if (!own) return {};
    function check(node) {
      if (!node.source) return; // `export const …` declares, it imports nothing
      const source = literalSource(node.source);
      if (source === undefined) {
        // A computed import() path is one the rule cannot follow, so it could reach anywhere.
        context.report({ node: node.source, messageId: 'computed' });
        return;
      }
      if (!source.startsWith('.')) return;
      const target = normalize(join(dirname(file), source));
      const stage = stageOf(target);
      if (!stage || stage === own) return;
      const module = withoutExtension(target);
      if (own === 'web') {
        // The browser bundle holds what web/ imports: only the wire contract, never server code.
        if (module !== join('events', 'index'))
          context.report({ node: node.source, messageId: 'browser', data: { source } });
        return;
      }
      if (module === join(stage, 'index') || ENTRY_MODULES.has(module)) return;
      const entry = relative(dirname(file), join(stage, 'index.js'));
      context.report({
        node: node.source,
        messageId: 'deep',
        data: { source, stage, entry: entry.startsWith('.') ? entry : `./${entry}` },
      });
    }
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};
