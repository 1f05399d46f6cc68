import type { ModelSettings } from '../core/index.js';

/** Characters of code shown to a large hosted model. */
export const DEFAULT_CONTEXT_CHARS = 60_000;

/** Tokens kept for the instructions and an earlier attempt's feedback. */
const PROMPT_RESERVE_TOKENS = 4096;

/** Numbered Python lines run about 3 characters a token: a cautious rate, so the prompt fits. */
const CHARS_PER_TOKEN = 3;

/**
 * How many characters of code the prompt may show. With a known context window (a local model
 * served with --max-model-len), what is left after the answer's cap, the instructions and the
 * issue itself; otherwise the default.
 */
export function contextBudgetChars(models: Pick<ModelSettings, 'contextTokens' | 'maxTokens'>, issue: string): number {
  if (models.contextTokens === undefined) return DEFAULT_CONTEXT_CHARS;
  const tokensLeft =
    models.contextTokens - models.maxTokens - PROMPT_RESERVE_TOKENS - Math.ceil(issue.length / CHARS_PER_TOKEN);
  return Math.min(DEFAULT_CONTEXT_CHARS, Math.max(0, tokensLeft * CHARS_PER_TOKEN));
}

/**
 * The issue as the model sees it: whole, unless a known context window cannot hold it beside some
 * code, then its head and tail (where reports put the summary and the traceback) with the cut said.
 */
export function fitIssue(models: Pick<ModelSettings, 'contextTokens' | 'maxTokens'>, issue: string): string {
  if (models.contextTokens === undefined) return issue;
  // At most half of what the answer and the instructions leave: the code needs the rest.
  const most = Math.floor(((models.contextTokens - models.maxTokens - PROMPT_RESERVE_TOKENS) * CHARS_PER_TOKEN) / 2);
  if (issue.length <= most) return issue;
  const head = Math.floor((most * 2) / 3);
  const tail = Math.max(0, most - head - 120);
  return (
    `${issue.slice(0, head)}` +
    `\n[… ${issue.length - head - tail} characters of the issue cut to fit the model's context ` +
    `window (FIXWRIGHT_MODEL_CONTEXT) …]\n${tail > 0 ? issue.slice(-tail) : ''}`
  );
}
