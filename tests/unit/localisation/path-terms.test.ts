import { describe, expect, it } from 'vitest';
import { withPathTerms } from '../../../localisation/repo-index.js';
import { pathTokens } from '../../../localisation/tokenize.js';

type Counts = { terms: string[]; counts: number[] };

/** Every term once, path tokens first, counts summed: the map of every term the placement once built. */
function merged(parts: Counts): Counts {
  const m = new Map<string, number>();
  parts.terms.forEach((t, i) => m.set(t, (m.get(t) ?? 0) + parts.counts[i]!));
  return { terms: [...m.keys()], counts: [...m.values()] };
}
const asMap = (body: Counts, path: string) =>
  merged({ terms: [...pathTokens(path), ...body.terms], counts: [...pathTokens(path).map(() => 1), ...body.counts] });

describe('path terms placed before a body', () => {
  const path = 'sympy/parsing/latex/parse_latex.py';
  const tokens = [...new Set(pathTokens(path))];

  it('gives what a map of every term gives for a counted (distinct) body', () => {
    const body = { terms: ['alpha', tokens[1]!, 'beta', tokens[0]!, 'gamma'], counts: [3, 2, 1, 5, 4] };
    expect(withPathTerms(body, path)).toEqual(asMap(body, path));
    const apart = { terms: ['alpha', 'beta'], counts: [1, 2] };
    expect(withPathTerms(apart, path)).toEqual(asMap(apart, path));
  });

  it('gives each path token once when a damaged body repeats it, with every count summed', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const words = [...tokens, 'alpha', 'beta', 'gamma', 'delta'];
    for (let run = 0; run < 200; run++) {
      const n = 1 + Math.floor(next() * 12);
      const body = {
        terms: Array.from({ length: n }, () => words[Math.floor(next() * words.length)]!),
        counts: Array.from({ length: n }, () => 1 + Math.floor(next() * 5)),
      };
      const placed = withPathTerms(body, path);
      const once = placed.terms.filter((t) => tokens.includes(t));
      expect(new Set(once).size).toBe(once.length);
      // Repeated other terms may stay repeated; taken as one (as LSI takes them) they are the map's.
      expect(merged(placed)).toEqual(asMap(body, path));
      expect(placed.terms.slice(0, tokens.length)).toEqual(asMap(body, path).terms.slice(0, tokens.length));
    }
  });
});
