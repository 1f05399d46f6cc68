import type { ContextCut } from '../state.js';

/** How one candidate of an attempt is drawn. */
export interface CandidatePlan {
  candidate: number;
  temperature: number;
  context: ContextCut;
}

/** The context cuts in the order candidates take them: the conformal set first, as a single candidate sees it. */
export const CONTEXT_CUTS: readonly ContextCut[] = ['conformal_set', 'top_file', 'top_k_functions'];

/** Temperatures of the candidates after the first, in turn: hot enough to differ, not so hot that edits stop matching the file. */
const SAMPLE_TEMPERATURES = [0.8, 0.6, 1.0] as const;

/**
 * The candidates of an attempt: the first is exactly what a single-candidate run draws (the
 * attempt's temperature, the conformal set's code); the others vary the code shown (the top file
 * alone, the top files cut to the functions the issue names) and run hotter, so that their
 * mistakes differ and the tests can tell them apart.
 */
export function candidatePlans(samples: number, attemptTemperature: number): CandidatePlan[] {
  return Array.from({ length: samples }, (_, i) => ({
    candidate: i + 1,
    temperature:
      i === 0
        ? attemptTemperature
        : Math.max(attemptTemperature, SAMPLE_TEMPERATURES[(i - 1) % SAMPLE_TEMPERATURES.length]!),
    context: CONTEXT_CUTS[i % CONTEXT_CUTS.length]!,
  }));
}

/** The cuts a number of candidates needs (the prompt code of each is built once). */
export function cutsFor(samples: number): ContextCut[] {
  return CONTEXT_CUTS.slice(0, Math.min(samples, CONTEXT_CUTS.length));
}
