import type { AIMessageChunk, BaseMessageLike } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { FixwrightError } from '../core/index.js';
import type { ChatAnswer, ChatModel } from './deps.js';

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
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      'an OpenAI-compatible model needs a base URL (--base-url or OPENAI_BASE_URL)',
    );
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

/** Whether fixwright knows a price for the model: an unpriced model's cost shows as "unpriced", never $0. */
export function isPriced(model: string, prices: Readonly<Record<string, ModelPrice>> = DEFAULT_PRICES): boolean {
  return prices[model] !== undefined;
}

/** Cost of a call from the price table (0 for unknown and local models). */
export function callCost(
  model: string,
  inputTokens: number,
  outputTokens: number,
  prices: Readonly<Record<string, ModelPrice>> = DEFAULT_PRICES,
): { costUsd: number; priced: boolean } {
  const price = prices[model];
  if (!price) return { costUsd: 0, priced: false };
  return { costUsd: (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6, priced: true };
}

/**
 * Sends messages and returns the text with token usage and cost. Errors become FW_ERR_MODEL with
 * the provider's reason (never the key); an abort becomes FW_ERR_CANCELLED.
 */
export async function callModel(
  model: ChatModel,
  messages: BaseMessageLike[],
  options: { signal?: AbortSignal; prices?: Readonly<Record<string, ModelPrice>> } = {},
): Promise<ModelCallResult> {
  const started = Date.now();
  // Only LangChain's client knows where it sends requests: a failure names that endpoint.
  const client = model instanceof ChatOpenAI ? model : undefined;
  try {
    // Streaming goes through .stream(): LangChain's invoke() on a streaming model estimates usage
    // with tiktoken, which downloads its encodings from the internet; the stream's own usage chunk
    // has the real counts.
    let reply: ChatAnswer;
    if (client?.streaming) {
      let streamed: AIMessageChunk | undefined;
      for await (const chunk of await client.stream(messages, { signal: options.signal }))
        streamed = streamed ? streamed.concat(chunk) : chunk;
      if (!streamed) throw new Error('the stream ended without a message');
      reply = streamed;
    } else {
      reply = await model.invoke(messages, { signal: options.signal });
    }
    const text =
      typeof reply.content === 'string'
        ? reply.content
        : reply.content.map((part) => ('text' in part ? String(part.text) : '')).join('');
    const inputTokens = reply.usage_metadata?.input_tokens ?? 0;
    const outputTokens = reply.usage_metadata?.output_tokens ?? 0;
    return {
      text,
      inputTokens,
      outputTokens,
      ...callCost(model.model, inputTokens, outputTokens, options.prices),
      durationMs: Date.now() - started,
    };
  } catch (err) {
    if (options.signal?.aborted)
      throw new FixwrightError('FW_ERR_CANCELLED', 'the model call was cancelled', { cause: err });
    throw new FixwrightError(
      'FW_ERR_MODEL',
      `the model ${model.model} failed: ${describeModelError(err, model.model, client?.clientConfig?.baseURL ?? undefined)}`,
      { cause: err },
    );
  }
}

const hideKeys = (text: string) => text.replace(/sk-[A-Za-z0-9_-]{6,}/g, 'sk-…');

/** Network error codes in words. */
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found (DNS)',
  EAI_AGAIN: 'host name lookup failed (DNS)',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
};

/** Why a request never got an HTTP answer (refused, DNS, timeout…), from the error's cause chain. */
export function networkReason(err: unknown): string {
  let deepest = '';
  for (
    let e = err as
        { code?: unknown; message?: unknown; name?: unknown; cause?: unknown; errors?: unknown[] } | undefined,
      depth = 0;
    e && depth < 8;
    e = e.cause as typeof e, depth++
  ) {
    const codes = [e.code, ...(Array.isArray(e.errors) ? e.errors.map((x) => (x as { code?: unknown }).code) : [])];
    for (const code of codes) if (typeof code === 'string' && NETWORK_REASONS[code]) return NETWORK_REASONS[code];
    if (
      e.name === 'TimeoutError' ||
      e.name === 'AbortError' ||
      (e as object).constructor?.name === 'APIConnectionTimeoutError'
    )
      return 'timed out';
    if (typeof e.message === 'string' && e.message) deepest = e.message;
  }
  return deepest || 'no answer';
}

/**
 * A provider failure in words a user can act on: the HTTP status and what it usually means, or why
 * the server could not be reached. The client has already retried what is worth retrying.
 */
export function describeModelError(err: unknown, model: string, baseURL?: string): string {
  const e = err as { status?: unknown; name?: unknown; message?: unknown; error?: { message?: unknown } };
  const status = typeof e.status === 'number' ? e.status : undefined;
  const said =
    typeof e.error?.message === 'string'
      ? e.error.message
      : typeof e.message === 'string'
        ? e.message.split('\n')[0]!
        : '';
  const detail = said ? `: ${hideKeys(said).slice(0, 300)}` : '';
  const where = baseURL ?? 'the model provider';
  // The OpenAI client's error classes do not all set `name`; their constructor tells them apart.
  const kind = [String(e.name ?? ''), (err as object | undefined)?.constructor?.name ?? ''];
  if (status === 401 || status === 403)
    return `the model provider refused the API key (${status}); check OPENAI_API_KEY${detail}`;
  if (status === 404)
    return `the model provider at ${where} does not know the model ${model} (404); check --model / FIXWRIGHT_MODEL and --base-url${detail}`;
  if (status === 429)
    return `the model provider kept refusing requests as too many (429) after retries; lower --workers or set --model-rpm${detail}`;
  if (status !== undefined && status >= 500)
    return `the model provider at ${where} failed (${status}) after retries${detail}`;
  if (status !== undefined) return `the model provider rejected the request (${status})${detail}`;
  const timedOut = kind.includes('APIConnectionTimeoutError') || /timed? ?out/i.test(String(e.message ?? ''));
  if (timedOut) return `${where} timed out after retries (raise FIXWRIGHT_REQUEST_TIMEOUT if it is slow)`;
  if (kind.includes('APIConnectionError') || (err instanceof TypeError && /fetch failed/.test(err.message)))
    return `could not reach ${where}: ${networkReason(err)}`;
  return hideKeys(String(e.message ?? err));
}

/**
 * One short request before any work: GET {baseURL}/models with the key. No answer (refused, DNS,
 * timeout) or 401/403 throws FW_ERR_MODEL naming the URL; any other HTTP answer, even 404, counts
 * as reachable (not every compatible server lists its models).
 */
export async function preflightModelEndpoint(
  baseURL: string,
  apiKey: string | undefined,
  timeoutMs = 5000,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`${baseURL.replace(/\/+$/, '')}/models`, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const reason = networkReason(err);
    throw new FixwrightError(
      'FW_ERR_MODEL',
      `could not reach ${baseURL}` +
        `: ${reason === 'timed out' ? `no answer within ${timeoutMs / 1000} s` : reason}; check ` +
        `--base-url / OPENAI_BASE_URL and that the model server is running`,
      { cause: err },
    );
  }
  await response.body?.cancel().catch(() => undefined);
  if (response.status === 401 || response.status === 403) {
    throw new FixwrightError(
      'FW_ERR_MODEL',
      `the model provider at ${baseURL} refused the API key (${response.status}); check OPENAI_API_KEY`,
    );
  }
}

/** The base URL a provider's requests go to (OpenAI's own when none is configured). */
export function endpointOf(provider: ModelProvider | undefined, baseURL: string | undefined): string {
  const chosen = provider ?? (baseURL ? 'compatible' : 'openai');
  return baseURL ?? (chosen === 'compatible' ? '' : (PROVIDER_URLS[chosen] ?? 'https://api.openai.com/v1'));
}
