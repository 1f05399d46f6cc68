import { checkModel, DEFAULT_PRICES, isPriced, type ModelProvider, type SolveContext } from '../../agent/index.js';
import { gradingRule, type GradingRule, type GradingRuleName } from '../../benchmarks/eval/index.js';
import { ablationVariants, type Variant } from '../../benchmarks/run/index.js';
import { type Settings, FixwrightError } from '../../core/index.js';
import { envTableFlag, maxCostFlag, modelGateFlag, pipSourceWarning, samplesFlag, wholeNumber } from '../flags.js';
import { checkBaseUrlFlag } from './solve.js';
import { queueFlag } from '../queue-flag.js';

/** `fixwright solve-dataset`'s flags as commander hands them over (strings until checked). */
export interface SolveDatasetFlags {
  dataset: string;
  split: string;
  repos?: string;
  instances?: string;
  onlyRepos?: string;
  limit?: string;
  workers: string;
  model?: string;
  baseUrl?: string;
  provider?: ModelProvider;
  maxAttempts: string;
  maxCost?: string;
  out: string;
  ablate?: string;
  eval?: boolean;
  modelRpm?: string;
  evalTimeout: string;
  errorRetries: string;
  samples?: string;
  queue?: string | boolean;
  envTable?: string;
  grading: GradingRuleName;
}

/** The run the flags ask for, every value checked. */
export interface SolveDatasetOptions {
  workers: number;
  maxAttempts: number;
  maxCostUsd: number | undefined;
  samples: number;
  modelGate: SolveContext['modelGate'];
  /** The queue's Redis when the instances go to workers; none runs them here. */
  queueURL: string | undefined;
  /** The runs to make: the full one alone, or one per `--ablate` variant. */
  variants: Array<Variant | undefined>;
  grading: GradingRule;
  environments: ReturnType<typeof envTableFlag>;
  model: string;
  baseURL: string | undefined;
  errorRetries: number;
  /** Whether fixwright has a price for the model: an unpriced one costs an unknown amount, not $0. */
  priced: boolean;
  evalTimeoutSeconds: number;
}

/**
 * Checks every flag before anything runs, in the order the errors have always been reported, and
 * checks the model answers (here; on the queue each worker checks its own as it starts).
 */
export async function solveDatasetOptions(flags: SolveDatasetFlags, settings: Settings): Promise<SolveDatasetOptions> {
  const workers = wholeNumber(flags.workers, '--workers', 1, 64);
  const maxAttempts = wholeNumber(flags.maxAttempts, '--max-attempts', 1, 10);
  const maxCostUsd = maxCostFlag(flags.maxCost);
  const samples = samplesFlag(flags.samples);
  const modelGate = modelGateFlag(flags.modelRpm);
  const queueURL = queueFlag(flags.queue, settings.service.redisURL, (line) => process.stderr.write(line));
  if (queueURL && flags.modelRpm !== undefined)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      '--model-rpm limits this process only: with --queue set FIXWRIGHT_MODEL_RPM on each worker',
      { field: '--model-rpm' },
    );
  const variants = flags.ablate ? ablationVariants(flags.ablate, samples) : [undefined];
  const grading = gradingRule(flags.grading);
  // Read before anything runs: a bad table is one clear error, not a run of env errors.
  const environments = envTableFlag(flags.envTable);
  const pipWarning = queueURL ? undefined : pipSourceWarning(environments, settings.pip);
  if (pipWarning) process.stderr.write(pipWarning);
  const model = flags.model ?? settings.models.chatModel;
  if (!model)
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      'no model configured: pass --model or set FIXWRIGHT_MODEL (and OPENAI_BASE_URL / OPENAI_API_KEY for its endpoint)',
    );
  checkBaseUrlFlag(flags.baseUrl);
  const errorRetries = wholeNumber(flags.errorRetries, '--error-retries', 0, 10);
  const baseURL = flags.baseUrl ?? settings.models.baseURL;
  // A wrong key or an endpoint that does not answer fails here, not as an error in every instance.
  // On the queue the workers call the model with their own key and endpoint: each checks it as it starts.
  if (!queueURL) await checkModel({ model, provider: flags.provider, baseURL }, settings);
  const priced = isPriced(model, { ...DEFAULT_PRICES, ...settings.models.prices });
  const evalTimeoutSeconds = wholeNumber(flags.evalTimeout, '--eval-timeout', 1, 86_400);
  return {
    workers,
    maxAttempts,
    maxCostUsd,
    samples,
    modelGate,
    queueURL,
    variants,
    grading,
    environments,
    model,
    baseURL,
    errorRetries,
    priced,
    evalTimeoutSeconds,
  };
}
