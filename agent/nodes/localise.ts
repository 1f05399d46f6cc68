import { predictionSet } from '../../uncertainty/index.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate, LocalisedFile } from '../state.js';

/** Files the prompt may show at most, even when the conformal set is larger. */
const MAX_FILES = 6;

/** Ranks the repository's files for the issue and keeps the conformal set (or the top few). */
export async function localiseNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  deps.run.snapshot = await deps.localiser.snapshot(deps.snapshotSource);
  const index = await deps.localiser.index(deps.snapshotSource);
  deps.run.index = index;
  const { files } = await deps.localiser.rank(index, state.issue);
  // A calibration fitted on another ranking cuts at a meaningless place (a q̂ of probability mass
  // applied to probabilities): no set is better than a wrong one, so the top few are shown instead.
  const calibration = deps.calibration?.ranker === deps.localiser.rankerName ? deps.calibration : undefined;
  if (deps.calibration && !calibration) {
    deps.events.emit('log', {
      step: 'localise',
      warning: `the calibration was fitted on ranker ${deps.calibration.ranker}, not ${deps.localiser.rankerName}: no conformal set, the top 3 files instead`,
    });
  }
  const set = new Set(
    calibration
      ? predictionSet(files, calibration.qhat, calibration.method, calibration.params)
      : files.slice(0, 3).map((f) => f.path),
  );
  const localised: LocalisedFile[] = files
    .slice(0, 20)
    .map((f) => ({ path: f.path, score: f.score, inSet: set.has(f.path) }));
  // The set holds the file to change with probability ≥ coverage (split-conformal guarantee).
  const coverage = calibration ? 1 - calibration.alpha : null;
  // On disk (the log, result.json) fields are snake_case, as in the API.
  deps.events.emit('localised_files', {
    files: localised.map((f) => ({ path: f.path, score: f.score, in_set: f.inSet })),
    set_size: set.size,
    coverage,
    indexed_files: index.summaries.length,
  });
  return { files: localised };
}

/** The files the prompt shows: the set's, best first, at most MAX_FILES. */
export function promptFiles(files: readonly LocalisedFile[]): LocalisedFile[] {
  const inSet = files.filter((f) => f.inSet);
  return (inSet.length > 0 ? inSet : files.slice(0, 3)).slice(0, MAX_FILES);
}
