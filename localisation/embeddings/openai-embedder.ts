import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenAIEmbeddings } from '@langchain/openai';
import { FixwrightError } from '../../core/index.js';
import { type CorpusEmbedding, type Embedder, type EmbeddingCorpus, normalise } from './embedder.js';

/** How to reach an OpenAI-compatible embeddings endpoint. */
export interface ApiEmbedderOptions {
  model: string;
  /** OpenAI by default; any OpenAI-compatible server (vLLM, TEI, Ollama) otherwise. */
  baseURL?: string;
  apiKey?: string;
  batchSize?: number;
  /** Characters of each file sent (the path plus its head): embedding models cap their input. */
  maxChars?: number;
  /** Vectors are cached here by model and text, so a repository is paid for once. */
  cacheDir?: string;
  timeoutMs?: number;
  maxRetries?: number;
}

/**
 * Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI text-embedding-3-small,
 * or a local server), through @langchain/openai's client with its retries.
 */
export class ApiEmbedder implements Embedder {
  readonly name: string;
  private client: OpenAIEmbeddings | undefined;
  private readonly options: ApiEmbedderOptions;

  constructor(options: ApiEmbedderOptions) {
    this.options = options;
    this.name = `api:${options.model}`;
  }

  /** The client, made on first use: its library takes about a second to load, which every localiser paid whether or not it used an API. */
  private async clientOf(): Promise<OpenAIEmbeddings> {
    if (!this.client) {
      let OpenAIEmbeddings: typeof import('@langchain/openai').OpenAIEmbeddings;
      try {
        ({ OpenAIEmbeddings } = await import('@langchain/openai'));
      } catch (err) {
        // Not the endpoint's fault: the install is missing a dependency.
        throw new FixwrightError(
          'FW_ERR_CONFIG',
          `the API embedder ` +
            `(${this.name}) cannot load its client library @langchain/openai: ${(err as Error).message}; reinstall fixwright's dependencies (npm ci)`,
          { cause: err },
        );
      }
      const options = this.options;
      this.client = new OpenAIEmbeddings({
        model: options.model,
        // Local servers need no key, but the client insists on one.
        apiKey: options.apiKey || 'not-needed',
        batchSize: options.batchSize ?? 64,
        timeout: options.timeoutMs ?? 60_000,
        maxRetries: options.maxRetries ?? 3,
        configuration: options.baseURL ? { baseURL: options.baseURL } : {},
      });
    }
    return this.client;
  }

  private cacheFile(text: string): string | undefined {
    if (!this.options.cacheDir) return undefined;
    const key = createHash('sha256').update(this.name).update('\0').update(text).digest('hex');
    return join(this.options.cacheDir, key.slice(0, 2), `${key}.f32`);
  }

  private async embedTexts(texts: string[]): Promise<Float32Array[]> {
    const out: Array<Float32Array | undefined> = texts.map((t) => {
      const file = this.cacheFile(t);
      if (!file) return undefined;
      try {
        const bytes = readFileSync(file);
        return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      } catch {
        return undefined;
      }
    });
    const missing = texts.map((t, i) => [t, i] as const).filter(([, i]) => !out[i]);
    if (missing.length > 0) {
      let vectors: number[][];
      const client = await this.clientOf();
      try {
        vectors = await client.embedDocuments(missing.map(([t]) => t));
      } catch (err) {
        throw new FixwrightError(
          'FW_ERR_CONFIG',
          `the embeddings endpoint failed (${this.name}${this.options.baseURL ? ` at ${this.options.baseURL}` : ''}): ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      missing.forEach(([text, i], j) => {
        const v = new Float32Array(vectors[j] ?? []);
        out[i] = v;
        const file = this.cacheFile(text);
        if (file && v.length > 0) {
          mkdirSync(join(file, '..'), { recursive: true });
          writeFileSync(file, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
        }
      });
    }
    return out.map((v) => normalise(Float32Array.from(v ?? [])));
  }

  async embedCorpus(corpus: EmbeddingCorpus): Promise<CorpusEmbedding> {
    const maxChars = this.options.maxChars ?? 6000;
    const texts = corpus.paths.map((p) => `${p}\n${(corpus.texts.get(p) ?? '').slice(0, maxChars)}`);
    const vectors = await this.embedTexts(texts);
    const dimensions = vectors.find((v) => v.length > 0)?.length ?? 0;
    if (corpus.paths.length > 0 && dimensions === 0)
      throw new FixwrightError('FW_ERR_CONFIG', `the embeddings endpoint (${this.name}) returned empty vectors`);
    return {
      dimensions: Math.max(1, dimensions),
      vectors: vectors.map((v) => (v.length === dimensions ? v : new Float32Array(dimensions))),
      embedQuery: async (text) => {
        const [v] = await this.embedTexts([text.slice(0, maxChars)]);
        return v!.length === dimensions ? v! : new Float32Array(dimensions);
      },
    };
  }
}
