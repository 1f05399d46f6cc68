import type { FileSummary } from '../../localisation/index.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate } from '../state.js';
import { promptFiles } from './localise.js';

const numbered = (text: string) =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((line, i) => `${String(i + 1).padStart(5)} ${line}`)
    .join('\n');

/** A file condensed to its classes and functions with line numbers (for files that do not fit whole). */
function skeleton(summary: FileSummary): string {
  return summary.symbols.map((s) => `${String(s.startLine).padStart(5)} ${'    '.repeat(s.qualname.split('.').length - 1)}${s.kind === 'class' ? 'class' : 'def'} ${s.name} … (to line ${s.endLine})`).join('\n');
}

/** Builds the code context: whole files, best first, while the budget lasts; skeletons after. */
export async function contextNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const index = deps.run.index!;
  let budget = deps.contextBudget;
  const parts: string[] = [];
  const shown: Array<{ path: string; mode: 'whole' | 'skeleton' }> = [];
  for (const file of promptFiles(state.files)) {
    const text = index.texts.get(file.path) ?? '';
    if (text.length <= budget) {
      parts.push(`${file.path}\n\`\`\`python\n${numbered(text)}\n\`\`\``);
      budget -= text.length;
      shown.push({ path: file.path, mode: 'whole' });
    } else {
      const summary = index.summaries.find((s) => s.path === file.path);
      if (!summary) continue;
      parts.push(`${file.path} (outline; too long to show whole)\n\`\`\`\n${skeleton(summary)}\n\`\`\``);
      shown.push({ path: file.path, mode: 'skeleton' });
    }
  }
  const context = parts.join('\n\n');
  deps.events.emit('context', { files: shown, chars: context.length });
  return { codeContext: context };
}
