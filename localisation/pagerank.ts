interface Adjacency {
  nodes: string[];
  index: Map<string, number>;
  /** Edges of node i are offsets[i] .. offsets[i + 1] − 1 of targets/weights (compressed rows). */
  offsets: Int32Array;
  targets: Int32Array;
  weights: Float64Array;
  outWeight: Float64Array;
}

// The graph of an index is fixed while many issues are ranked against it; building its adjacency
// per query was most of a query's time on a 900-file repository.
const adjacencies = new WeakMap<ReadonlyMap<string, readonly string[]>, Map<number, Adjacency>>();

/** The undirected, weighted view of an import graph as compressed rows, built once per graph. */
function adjacencyOf(graph: ReadonlyMap<string, readonly string[]>, reverseWeight: number): Adjacency {
  let byWeight = adjacencies.get(graph);
  if (!byWeight) adjacencies.set(graph, (byWeight = new Map()));
  const cached = byWeight.get(reverseWeight);
  if (cached) return cached;
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
  const offsets = new Int32Array(nodes.length + 1);
  out.forEach((edges, i) => (offsets[i + 1] = offsets[i]! + edges.length));
  const targets = new Int32Array(offsets[nodes.length]!);
  const weights = new Float64Array(offsets[nodes.length]!);
  out.forEach((edges, i) =>
    edges.forEach(([j, w], k) => {
      targets[offsets[i]! + k] = j;
      weights[offsets[i]! + k] = w;
    }),
  );
  const outWeight = Float64Array.from(out, (edges) => edges.reduce((sum, [, w]) => sum + w, 0));
  const adjacency = { nodes, index, offsets, targets, weights, outWeight };
  byWeight.set(reverseWeight, adjacency);
  return adjacency;
}

/**
 * Personalized PageRank by power iteration over an undirected view of the import graph (a file
 * relates to the files it imports and to the files that import it; imports count more).
 * `seeds` is the restart distribution; it need not sum to 1.
 */
export function personalizedPageRank(
  graph: ReadonlyMap<string, readonly string[]>,
  seeds: ReadonlyMap<string, number>,
  options: { damping?: number; iterations?: number; reverseWeight?: number; tolerance?: number } = {},
): Map<string, number> {
  const damping = options.damping ?? 0.85;
  const iterations = options.iterations ?? 50;
  const reverseWeight = options.reverseWeight ?? 0.5;
  const tolerance = options.tolerance ?? 1e-9;

  const { nodes, index, offsets, targets, weights, outWeight } = adjacencyOf(graph, reverseWeight);
  const restart = new Float64Array(nodes.length);
  let seedTotal = 0;
  for (const [node, weight] of seeds) {
    const i = index.get(node);
    if (i === undefined || !(weight > 0)) continue;
    restart[i]! += weight;
    seedTotal += weight;
  }
  if (seedTotal === 0) return new Map();
  for (let i = 0; i < restart.length; i++) restart[i]! /= seedTotal;

  // Two buffers swapped each iteration; each product is formed as (damping · r) · w / out, the
  // order the one-expression form evaluated it in, so the ranks are bit for bit the same.
  let rank = Float64Array.from(restart);
  let next = new Float64Array(nodes.length);
  const n = nodes.length;
  for (let iter = 0; iter < iterations; iter++) {
    next.fill(0);
    let dangling = 0;
    for (let i = 0; i < n; i++) {
      const r = rank[i]!;
      if (r === 0) continue;
      const out = outWeight[i]!;
      if (out === 0) {
        dangling += r;
        continue;
      }
      const share = damping * r;
      const end = offsets[i + 1]!;
      for (let e = offsets[i]!; e < end; e++) next[targets[e]!]! += (share * weights[e]!) / out;
    }
    // Mass that cannot move (dangling nodes) and the teleport both return to the seeds.
    let delta = 0;
    const back = 1 - damping + damping * dangling;
    for (let i = 0; i < n; i++) {
      next[i]! += back * restart[i]!;
      delta += Math.abs(next[i]! - rank[i]!);
    }
    [rank, next] = [next, rank];
    if (delta < tolerance) break;
  }
  const result = new Map<string, number>();
  rank.forEach((r, i) => {
    if (r > 0) result.set(nodes[i]!, r);
  });
  return result;
}
