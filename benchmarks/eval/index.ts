/** Evaluating predictions the way SWE-bench does: each instance's tests run in the Docker sandbox and are graded. */
export { entriesWithPip, environmentFor, loadEnvironmentTable } from './environments.js';
export { DEFAULT_GRADING_RULE, GRADING_RULES, gradingRule, type GradingRule, type GradingRuleName } from './grading.js';
export { benchFiguresBeside, type EvalReport } from './report.js';
export { runEvaluation } from './run-eval.js';
