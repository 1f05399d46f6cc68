import { describe, expect, it } from 'vitest';
import { OutputCollector } from '../../../sandbox/output-cap.js';

function collect(cap: number, chunks: string[]) {
  const c = new OutputCollector(cap);
  for (const chunk of chunks) c.write(Buffer.from(chunk));
  return c.result();
}

describe('OutputCollector', () => {
  it('keeps output under the cap whole', () => {
    const r = collect(100, ['hello ', 'world']);
    expect(r).toMatchObject({ text: 'hello world', totalBytes: 11, truncatedBytes: 0 });
    expect(r.raw.equals(Buffer.from('hello world'))).toBe(true);
  });

  it('keeps head and tail and says how much was cut', () => {
    const r = collect(10, ['0123456789', 'abcdefghij', 'KLMNOPQRST']);
    expect(r.totalBytes).toBe(30);
    expect(r.truncatedBytes).toBe(20);
    expect(r.text.startsWith('01234')).toBe(true);
    expect(r.text.endsWith('PQRST')).toBe(true);
    expect(r.text).toContain('[fixwright: 20 bytes of output cut here]');
  });

  it('keeps the true tail across many small chunks', () => {
    const chunks = Array.from({ length: 1000 }, (_, i) => `${i};`);
    const r = collect(20, chunks);
    expect(r.text.endsWith('7;998;999;')).toBe(true);
    expect(r.totalBytes).toBe(chunks.join('').length);
    expect(r.truncatedBytes).toBe(r.totalBytes - 20);
  });
});
