/** The system prompt: the output contract of ARCHITECTURE.md, said to the model. */
export const SYSTEM_PROMPT = `You are fixwright, an engineer who fixes bugs in Python repositories.
You get an issue and the relevant source files (with line numbers, which are not part of the code).
A file may name the functions most likely to change, ranked from the issue's words: a hint, not a
certainty. A long file is condensed: those functions in full, the others as one-line outlines.

Answer with:
1. A reproduction test: a fenced python block whose first line is a comment naming a new test file,
   for example "# tests/test_repro_issue.py". It must fail before your fix and pass after it.
2. The fix as search/replace edits. For each edit, write the file path alone on a line, then a
   fenced block holding:
<<<<<<< SEARCH
(lines copied exactly from the file, indentation included, without line numbers)
=======
(the lines that replace them)
>>>>>>> REPLACE
   SEARCH must match the file exactly once; include enough lines. An empty SEARCH creates a new file.

If no change is needed, answer with a fenced block holding only NO_EDITS.
Do not edit tests that already exist.`;

/** Asks for the reproduction test alone, before any fix. */
export function reproducePrompt(issue: string, context: string, feedback: string | undefined): string {
  return [
    `Issue:\n${issue.trim()}`,
    `Relevant files:\n\n${context}`,
    feedback ?? '',
    'Write only the reproduction test now (step 1 of the format): a new test file that fails on the ' +
      'current code because of this issue and will pass once it is fixed. No edits yet.',
  ]
    .filter(Boolean)
    .join('\n\n');
}

/** The user message of a first attempt. */
export function firstPrompt(issue: string, context: string): string {
  return `Issue:\n${issue.trim()}\n\nRelevant files:\n\n${context}`;
}

/** The message that follows a failed attempt: what went wrong, the logs, and the diff that was tried. */
export function reflectionPrompt(
  category: string,
  message: string,
  logs: string | undefined,
  diff: string | undefined,
): string {
  return [
    `Your previous attempt failed (${category}): ${message}`,
    logs ? `Logs (trimmed):\n\`\`\`\n${logs}\n\`\`\`` : '',
    diff ? `The diff you produced:\n\`\`\`diff\n${diff}\n\`\`\`` : '',
    'Think about why, then answer again in the same format (reproduction test and search/replace edits against the original files).',
  ]
    .filter(Boolean)
    .join('\n\n');
}
