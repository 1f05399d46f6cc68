import type { BaseMessageLike } from '@langchain/core/messages';
import { describeDiagnostics } from './diagnostics.js';
import { splitLines } from './python/text.js';
import type { Diagnostic } from './types.js';

/** The model's instructions: the line-range DSL and the two special answers (ARCHITECTURE.md's contract). */
export const QUICKFIX_SYSTEM_PROMPT =
  `You fix code for an editor. You get the code with line ` +
  `numbers, the lines you may edit, diagnostics and maybe an instruction.
Answer with line-range edits and nothing else:
@@ START-END
-<line START exactly as shown, without its number>
-<… through line END>
+<new line>
START and END are 1-based and inclusive, numbered as shown; the - lines must equal the current ` +
  `lines. "@@ N-N" with only + lines inserts after line N; "@@ 0-0" inserts at the top.
Keep edits minimal, keep indentation, touch only the lines you may edit, and change only what the diagnostics or the instruction need.
If nothing safe can be done, answer NO_EDITS alone in a fenced block. If a previous proposal is ` +
  `shown and it should stand, answer KEEP_PREVIOUS alone in a fenced block.`;

/** What the prompt shows. */
export interface PromptInput {
  code: string;
  language: string;
  filePath?: string;
  region: { start: number; end: number };
  diagnostics: readonly Diagnostic[];
  instruction?: string;
  maxEdits: number;
  /** Whether imports may be added at the top, outside the lines the caller allows. */
  allowImports: boolean;
  previousDsl?: string;
}

/** Lines shown around the region of a long file (the whole file when it is short). */
const CONTEXT_LINES = 60;

/** The code with line numbers: the whole file when short, else the region with context (real numbers kept). */
export function numberedCode(code: string, region: { start: number; end: number }): string {
  const lines = splitLines(code);
  const from = lines.length <= 400 ? 1 : Math.max(1, region.start - CONTEXT_LINES);
  const to = lines.length <= 400 ? lines.length : Math.min(lines.length, region.end + CONTEXT_LINES);
  const width = String(to).length;
  return lines
    .slice(from - 1, to)
    .map((line, i) => `${String(from + i).padStart(width)}| ${line}`)
    .join('\n');
}

const IMPORTS_ALLOWED =
  ' Besides them, you may only add import lines at the top of the file (insert them after the imports there).';

/** The first round's messages. */
export function editMessages(input: PromptInput): BaseMessageLike[] {
  const parts = [
    `File: ${input.filePath ?? 'snippet'} (${input.language})`,
    `Lines you may edit: ${input.region.start}-${input.region.end}.${input.allowImports ? IMPORTS_ALLOWED : ''} ` +
      `At most ${input.maxEdits} edit${input.maxEdits === 1 ? '' : 's'}.`,
    input.diagnostics.length ? `Diagnostics:\n${describeDiagnostics(input.diagnostics)}` : 'Diagnostics: none given.',
    input.instruction ? `Instruction: ${input.instruction}` : 'Instruction: fix the diagnostics.',
  ];
  if (input.previousDsl)
    parts.push(
      `A previous proposal for this code (answer KEEP_PREVIOUS if it should stand; when the ` +
        `instruction asks to keep it, your edits must include its changes):\n${input.previousDsl}`,
    );
  parts.push(`Code:\n${numberedCode(input.code, input.region)}`);
  return [
    ['system', QUICKFIX_SYSTEM_PROMPT],
    ['human', parts.join('\n\n')],
  ];
}

/** The repair round's feedback: exactly what failed, and the same choices as before. */
export function repairMessage(problem: string): BaseMessageLike {
  return [
    'human',
    `Your answer was not ` +
      `accepted: ${problem}\nAnswer again with corrected line-range edits (line numbers as shown in ` +
      `the code above), or NO_EDITS if nothing safe can be done, or KEEP_PREVIOUS if the previous proposal should stand.`,
  ];
}
