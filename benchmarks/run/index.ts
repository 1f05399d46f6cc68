/** Solving a dataset's instances with the agent, and the ablations that compare its parts. */
export {
  ABLATIONS,
  ablationVariants,
  SELECTION_ABLATION_SAMPLES,
  variantLocalisation,
  writeAblationTable,
  type AblationRow,
  type Variant,
  type VariantLocalisation,
} from './ablation.js';
export { resultSettings, resumeLines, solveInstances } from './solve-instances.js';
