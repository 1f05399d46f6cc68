import { describe, expect, it } from 'vitest';
import { coChange, DEFAULT_HISTORY_OPTIONS, type RepoHistory } from '../../../localisation/history.js';
import { personalizedPageRank } from '../../../localisation/pagerank.js';

/** A small seeded generator, so the random histories and graphs are the same every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

// The per-query signals as they were written before their speed-ups: the fast forms must give
// the same numbers bit for bit (Object.is), not merely close ones, or cached rankings would move.
function referenceCoChange(
  history: RepoHistory,
  seeds: ReadonlyMap<string, number>,
  candidates: ReadonlySet<string>,
): Map<string, number> {
  const scores = new Map<string, number>();
  history.commits.forEach((c, i) => {
    if (c.files.length < 2 || c.files.length > DEFAULT_HISTORY_OPTIONS.maxFilesPerCommit) return;
    const recency = 0.5 ** (i / DEFAULT_HISTORY_OPTIONS.halfLife);
    for (const seed of c.files) {
      const w = seeds.get(seed);
      if (!w) continue;
      for (const f of c.files) {
        if (f === seed || !candidates.has(f)) continue;
        scores.set(f, (scores.get(f) ?? 0) + (w * recency) / (c.files.length - 1));
      }
    }
  });
  return scores;
}

function referencePageRank(
  graph: ReadonlyMap<string, readonly string[]>,
  seeds: ReadonlyMap<string, number>,
): Map<string, number> {
  const [damping, iterations, reverseWeight, tolerance] = [0.85, 50, 0.5, 1e-9];
  const nodes = [...graph.keys()];
  const index = new Map(nodes.map((n, i) => [n, i]));
  const out: Array<Array<[number, number]>> = nodes.map(() => []);
  for (const [from, targets] of graph) {
    const i = index.get(from)!;
    for (const to of targets) {
      const j = index.get(to);
      if (j === undefined || j === i) continue;
      out[i]!.push([j, 1]);
      out[j]!.push([i, reverseWeight]);
    }
  }
  const outWeight = out.map((edges) => edges.reduce((sum, [, w]) => sum + w, 0));
  const restart = new Float64Array(nodes.length);
  let total = 0;
  for (const [node, w] of seeds) {
    const i = index.get(node);
    if (i === undefined || !(w > 0)) continue;
    restart[i]! += w;
    total += w;
  }
  for (let i = 0; i < restart.length; i++) restart[i]! /= total;
  let rank = Float64Array.from(restart);
  for (let iter = 0; iter < iterations; iter++) {
    const next = new Float64Array(nodes.length);
    let dangling = 0;
    for (let i = 0; i < nodes.length; i++) {
      const r = rank[i]!;
      if (r === 0) continue;
      if (outWeight[i] === 0) {
        dangling += r;
        continue;
      }
      for (const [j, w] of out[i]!) next[j]! += (damping * r * w) / outWeight[i]!;
    }
    let delta = 0;
    for (let i = 0; i < nodes.length; i++) {
      next[i]! += (1 - damping + damping * dangling) * restart[i]!;
      delta += Math.abs(next[i]! - rank[i]!);
    }
    rank = next;
    if (delta < tolerance) break;
  }
  return new Map([...rank].flatMap((r, i) => (r > 0 ? [[nodes[i]!, r] as const] : [])));
}

describe('per-query signals', () => {
  it("co-change visits only the seeds' commits and sums exactly as a walk over every commit", () => {
    const next = random(11);
    const files = Array.from({ length: 60 }, (_, i) => `pkg/m${i}.py`);
    const pick = () => files[Math.floor(next() * files.length)]!;
    for (let round = 0; round < 20; round++) {
      // Commits of 1 to 40 files (some over the 30-file bound), some repeating a file.
      const commits = Array.from({ length: 300 }, () => ({
        files: Array.from({ length: 1 + Math.floor(next() ** 3 * 40) }, pick),
        fix: next() < 0.3,
      }));
      const history: RepoHistory = { commit: `c${round}`, commits };
      const seeds = new Map(Array.from({ length: 5 }, (_, i) => [pick(), 1 / (i + 1)] as const));
      const candidates = new Set(files.filter(() => next() < 0.8));
      const fast = coChange(history, seeds, candidates, 1000);
      const reference = referenceCoChange(history, seeds, candidates);
      expect(fast.length).toBe([...reference.values()].filter((s) => s > 0).length);
      for (const { path, score } of fast) expect(Object.is(score, reference.get(path))).toBe(true);
    }
  });

  it('PageRank gives the ranks of the one-expression power iteration bit for bit', () => {
    const next = random(5);
    for (let round = 0; round < 20; round++) {
      const nodes = Array.from({ length: 80 }, (_, i) => `n${i}.py`);
      // Some nodes import nothing (dangling), some import a missing file or themselves.
      const graph = new Map(
        nodes.map((n) => [
          n,
          next() < 0.2
            ? []
            : Array.from({ length: Math.floor(next() * 6) }, () =>
                next() < 0.05 ? 'missing.py' : nodes[Math.floor(next() * nodes.length)]!,
              ),
        ]),
      );
      const seeds = new Map(
        Array.from({ length: 4 }, () => [nodes[Math.floor(next() * nodes.length)]!, next()] as const),
      );
      const fast = personalizedPageRank(graph, seeds);
      const reference = referencePageRank(graph, seeds);
      expect([...fast.keys()]).toEqual([...reference.keys()]);
      for (const [node, r] of fast) expect(Object.is(r, reference.get(node))).toBe(true);
    }
  });
});
