// training/: trajectories → SFT and DPO pairs for fine-tuning (the Python trainers live beside).
export { cardStem, type ExportCard } from './card.js';
export { exportTrainingData, trajectoryFiles, validationRepos, type ExportOptions } from './export.js';
export { estimateTokens, rowTokens, type SftStyle } from './format.js';
export {
  dpoCandidates,
  dpoPairs,
  sftCandidates,
  sftPairs,
  type DpoPair,
  type SftKind,
  type SftPair,
  type Skipped,
} from './pairs.js';
export { readTrajectory, type AttemptTrace, type RunTrace, type TraceProblem } from './trajectory.js';
