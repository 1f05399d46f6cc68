// training/: trajectories → SFT and DPO pairs for fine-tuning (the Python trainers live beside).
export { cardStem, type ExportCard } from './card.js';
export { exportTrainingData, trajectoryFiles, validationRepos, type ExportOptions } from './export.js';
export { estimateTokens, rowTokens, type SftStyle } from './format.js';
export { dpoPairs, sftPairs, type DpoPair, type SftKind, type SftPair } from './pairs.js';
export { readTrajectory, type RunTrace, type TraceProblem } from './trajectory.js';
