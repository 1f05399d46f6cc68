import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../../core/scripted-openai-server.js';
import { createDenseRanker } from '../../../localisation/embeddings/dense-index.js';
import { ApiEmbedder, LsiEmbedder } from '../../../localisation/index.js';

const FILES = new Map([
  [
    'shop/pricing.py',
    'def apply_discount(price, coupon):\n    """Apply a percentage coupon discount to a price."""\n    return price * (100 - coupon.percent) / 100\n',
  ],
  [
    'shop/shipping.py',
    'RATES = {"eu": 5}\n\ndef estimate_shipping(region, parcel_weight):\n    """Shipping cost for a ' +
      'parcel by region."""\n    return RATES[region] * parcel_weight\n',
  ],
  [
    'shop/inventory.py',
    'class Stock:\n    """Warehouse stock levels."""\n    def reserve(self, sku, count):\n        return count\n',
  ],
  [
    'shop/users.py',
    'class Customer:\n    """A registered customer with an email address and password."""\n    def login(self, email, password):\n        return True\n',
  ],
]);
const corpus = { paths: [...FILES.keys()], texts: FILES };

describe('LsiEmbedder', () => {
  it('puts a query near the file that shares its vocabulary, through faiss', async () => {
    const embedding = await new LsiEmbedder(8).embedCorpus(corpus);
    const ranker = createDenseRanker(corpus.paths, embedding);
    expect((await ranker.rank('the coupon discount percentage is wrong', 2))[0]?.path).toBe('shop/pricing.py');
    expect((await ranker.rank('customer cannot login with email', 2))[0]?.path).toBe('shop/users.py');
  });

  it('is deterministic and unit-length', async () => {
    const a = await new LsiEmbedder(8).embedCorpus(corpus);
    const b = await new LsiEmbedder(8).embedCorpus(corpus);
    expect(Array.from(a.vectors[0]!)).toEqual(Array.from(b.vectors[0]!));
    const norm = Math.hypot(...Array.from(a.vectors[1]!));
    expect(norm).toBeCloseTo(1, 5);
  });

  it('works on a one-file repository and caps k at the number of files', async () => {
    const one = { paths: ['solo.py'], texts: new Map([['solo.py', 'def lonely_function():\n    return 1\n']]) };
    const ranker = createDenseRanker(one.paths, await new LsiEmbedder().embedCorpus(one));
    expect(await ranker.rank('lonely function', 50)).toEqual([{ path: 'solo.py', score: expect.any(Number) }]);
    expect(await ranker.rank('nothing in common', 50)).toEqual([]);
  });
});

describe('ApiEmbedder over HTTP (scripted OpenAI-compatible server on 127.0.0.1)', () => {
  let server: ScriptedServer;
  beforeAll(async () => {
    server = await startScriptedOpenAIServer({ embeddingDimensions: 32, failFirst: 2, apiKey: 'sk-test' });
  });
  afterAll(() => server.close());

  it('embeds a corpus with the real client, retrying 500s, and caches what it paid for', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-emb-'));
    const embedder = new ApiEmbedder({
      model: 'text-embedding-3-small',
      baseURL: server.url,
      apiKey: 'sk-test',
      cacheDir,
      maxRetries: 3,
    });
    const embedding = await embedder.embedCorpus(corpus);
    expect(embedding.dimensions).toBe(32);
    const ranker = createDenseRanker(corpus.paths, embedding);
    expect((await ranker.rank('shipping estimate for a parcel region', 1))[0]?.path).toBe('shop/shipping.py');
    const calls = server.requests.filter((r) => r.path === '/v1/embeddings').length;
    expect(calls).toBeGreaterThanOrEqual(4); // 2 failures, the corpus, the query
    const body = server.requests.find((r) => r.path === '/v1/embeddings')?.body as { model: string; input: string[] };
    expect(body.model).toBe('text-embedding-3-small');
    await new ApiEmbedder({
      model: 'text-embedding-3-small',
      baseURL: server.url,
      apiKey: 'sk-test',
      cacheDir,
    }).embedCorpus(corpus);
    expect(server.requests.filter((r) => r.path === '/v1/embeddings').length).toBe(calls); // all from the cache
  });

  it('says which endpoint failed', async () => {
    const embedder = new ApiEmbedder({ model: 'm', baseURL: server.url, apiKey: 'wrong-key', maxRetries: 0 });
    await expect(embedder.embedCorpus(corpus)).rejects.toThrow(
      /the embeddings endpoint failed \(api:m at http:\/\/127\.0\.0\.1:\d+\/v1\)/,
    );
  });
});
