import { describe, expect, it } from 'vitest';
import { modelRateLimit } from '../../../agent/index.js';

describe('modelRateLimit (bench --model-rpm)', () => {
  it('starts at most the limit of calls in a minute, shared by every caller, and passes results and errors through', async () => {
    const gate = modelRateLimit(2);
    const started: number[] = [];
    const calls = [1, 2, 3].map((n) => gate(async () => (started.push(n), n * 10)));
    expect(await Promise.all(calls.slice(0, 2))).toEqual([10, 20]);
    await new Promise((r) => setTimeout(r, 300));
    expect(started).toEqual([1, 2]); // the third waits for the next minute
    await expect(modelRateLimit(5)(async () => Promise.reject(new Error('429 from provider')))).rejects.toThrow(
      '429 from provider',
    );
  });
});
