import {
  type ScriptedChatRequest,
  type ScriptedReply,
  type ScriptedServer,
  startScriptedOpenAIServer,
} from '../../core/index.js';

/** The model name the demo's scripted server answers as. */
export const DEMO_MODEL = 'fixwright-demo-scripted';

const REPRODUCTION = [
  'A 10% discount on 200 must give 180; today it gives -1800.',
  '',
  '```python',
  '# tests/test_discount_percent.py',
  'from shop import apply_discount',
  '',
  '',
  'def test_ten_percent_off_200_is_180():',
  '    assert apply_discount(200, 10) == 180',
  '```',
  '',
].join('\n');

const edit = (explanation: string, replacement: string) =>
  [
    explanation,
    '',
    REPRODUCTION,
    'shop/pricing.py',
    '```python',
    '<<<<<<< SEARCH',
    '    return price - price * percent',
    '=======',
    `    return ${replacement}`,
    '>>>>>>> REPLACE',
    '```',
    '',
  ].join('\n');

/** The plausible first answer: it fixes the case but rounds every price to whole units. */
const ROUNDING_FIX = edit(
  '`percent` is a percentage, so divide it by 100 (and round the result).',
  'round(price * (100 - percent) / 100)',
);
/** The answer after reflection: scale by the percentage, keep the cents. */
const EXACT_FIX = edit(
  'Rounding broke prices with cents; scale by the percentage and keep the exact value.',
  'price - price * percent / 100',
);

function lastUserText(request: ScriptedChatRequest): string {
  const last = [...(request.messages ?? [])].reverse().find((m) => m.role === 'user');
  return typeof last?.content === 'string' ? last.content : JSON.stringify(last?.content ?? '');
}

/**
 * Answers as a model would in the demo, reading what each request asks: the reproduction test,
 * then a first fix that breaks a neighbouring test, then — once told the attempt failed — the right one.
 */
export function demoReply(request: ScriptedChatRequest): ScriptedReply {
  const asked = lastUserText(request);
  if (/Write only the reproduction test now/.test(asked)) return REPRODUCTION;
  if (/Your previous attempt failed/.test(asked)) return EXACT_FIX;
  return ROUNDING_FIX;
}

/** Starts the demo's scripted OpenAI-compatible model on loopback. */
export function startDemoModel(apiKey: string): Promise<ScriptedServer> {
  return startScriptedOpenAIServer({ respond: demoReply, apiKey });
}
