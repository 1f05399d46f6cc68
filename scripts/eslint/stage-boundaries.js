// ESLint rule: a stage (a top-level folder such as agent/ or sandbox/) is used by the other stages
// only through its index.ts. Reaching past it couples a caller to a stage's internals, so a
// refactor inside one stage breaks another; this rule makes that a lint error instead.
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folders that are not stages: tests and scripts may reach anywhere they need to. */
const NOT_STAGES = new Set(['tests', 'scripts', 'node_modules', 'dist']);

/** The stage a repository-relative path belongs to, or undefined for files at the root or outside stages. */
function stageOf(path) {
  const parts = path.split(sep);
  if (parts.length < 2 || parts[0] === '..' || NOT_STAGES.has(parts[0])) return undefined;
  return parts[0];
}

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'import another stage only through its index.ts (its public surface)' },
    schema: [],
    messages: {
      deep: "'{{source}}' reaches inside the {{stage}}/ stage: import it from '{{entry}}' (export what you need from {{stage}}/index.ts)",
    },
  },
  create(context) {
    const file = relative(ROOT, context.filename);
    const own = stageOf(file);
    if (!own) return {};
    function check(node) {
      const source = node.source?.value;
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = normalize(join(dirname(file), source));
      const stage = stageOf(target);
      if (!stage || stage === own) return;
      if (target === join(stage, 'index.js') || target === join(stage, 'index.ts')) return;
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
