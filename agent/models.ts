import type { AIMessageChunk, BaseMessageLike } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { FixwrightError } from '../core/errors.js';

/** Where a chat model is served: OpenAI, DeepSeek's API, or any OpenAI-compatible server (vLLM, TGI, Ollama). */
export type ModelProvider = 'openai' | 'deepseek' | 'compatible';

/** How to build a chat model. */
export interface ChatModelOptions {
  model: string;
  provider?: ModelProvider;
  /** Required for `compatible`; defaults per provider otherwise. */
  baseURL?: string;
  apiKey?: string;
  temperature?: number;
  maxTokens?: number;
  timeoutMs?: number;
  /** Retries with backoff on 429, 5xx and timeouts (the client's own policy). */
  maxRetries?: number;
  streaming?: boolean;
}

/** Dollars per million tokens; local models cost nothing. Prices change: override them in configuration. */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
}

/** Published list prices (USD per million tokens) when this table was written; unknown models cost 0 and say so. */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  'gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'gpt-4.1': { inputPerMTok: 2, outputPerMTok: 8 },
  'gpt-4.1-mini': { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  'deepseek-chat': { inputPerMTok: 0.27, outputPerMTok: 1.1 },
  'deepseek-reasoner': { inputPerMTok: 0.55, outputPerMTok: 2.19 },
};

const PROVIDER_URLS: Record<Exclude<ModelProvider, 'compatible'>, string | undefined> = {
  openai: undefined, // the client's default
  deepseek: 'https://api.deepseek.com/v1',
};

/** Builds a LangChain chat model for any of the providers; the only place a chat client is made. */
export function createChatModel(options: ChatModelOptions): ChatOpenAI {
  const provider = options.provider ?? (options.baseURL ? 'compatible' : 'openai');
  const baseURL = options.baseURL ?? (provider === 'compatible' ? undefined : PROVIDER_URLS[provider]);
  if (provider === 'compatible' && !baseURL) {
    throw new FixwrightError('FW_ERR_CONFIG', 'an OpenAI-compatible model needs a base URL (--base-url or OPENAI_BASE_URL)');
  }
  if (provider !== 'compatible' && !options.apiKey) {
    throw new FixwrightError('FW_ERR_CONFIG', `the ${provider} provider needs an API key (OPENAI_API_KEY)`);
  }
  return new ChatOpenAI({
    model: options.model,
    // Local servers need no key, but the client insists on one.
    apiKey: options.apiKey || 'not-needed',
    temperature: options.temperature ?? 0,
    maxTokens: options.maxTokens ?? 4096,
    timeout: options.timeoutMs ?? 120_000,
    maxRetries: options.maxRetries ?? 3,
    streaming: options.streaming ?? false,
    streamUsage: true,
    configuration: baseURL ? { baseURL } : {},
  });
}

/** One model call's answer and what it cost. */
export interface ModelCallResult {
  text: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** False when the model is not in the price table (cost then counts as 0). */
  priced: boolean;
  durationMs: number;
}

/** Cost of a call from the price table (0 for unknown and local models). */
export function callCost(model: string, inputTokens: number, outputTokens: number, prices: Readonly<Record<string, ModelPrice>> = DEFAULT_PRICES): { costUsd: number; priced: boolean } {
  const price = prices[model];
  if (!price) return { costUsd: 0, priced: false };
  return { costUsd: (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6, priced: true };
}

/**
 * Sends messages and returns the text with token usage and cost. Errors become FW_ERR_MODEL with
 * the provider's reason (never the key); an abort becomes FW_ERR_CANCELLED.
 */
export async function callModel(
  model: ChatOpenAI,
  messages: BaseMessageLike[],
  options: { signal?: AbortSignal; prices?: Readonly<Record<string, ModelPrice>> } = {},
): Promise<ModelCallResult> {
  const started = Date.now();
  try {
    // Streaming goes through .stream(): LangChain's invoke() on a streaming model estimates usage
    // with tiktoken, which downloads its encodings from the internet; the stream's own usage chunk
    // has the real counts.
    let reply: AIMessageChunk | undefined;
    if (model.streaming) {
      for await (const chunk of await model.stream(messages, { signal: options.signal })) reply = reply ? reply.concat(chunk) : chunk;
      if (!reply) throw new Error('the stream ended without a message');
    } else {
      reply = await model.invoke(messages, { signal: options.signal });
    }
    const text = typeof reply.content === 'string' ? reply.content : reply.content.map((part) => ('text' in part ? String(part.text) : '')).join('');
    const inputTokens = reply.usage_metadata?.input_tokens ?? 0;
    const outputTokens = reply.usage_metadata?.output_tokens ?? 0;
    return { text, inputTokens, outputTokens, ...callCost(model.model, inputTokens, outputTokens, options.prices), durationMs: Date.now() - started };
  } catch (err) {
    if (options.signal?.aborted) throw new FixwrightError('FW_ERR_CANCELLED', 'the model call was cancelled', { cause: err });
    const message = (err as Error).message.replace(/sk-[A-Za-z0-9_-]{6,}/g, 'sk-…');
    throw new FixwrightError('FW_ERR_MODEL', `the model ${model.model} failed: ${message}`, { cause: err });
  }
}
