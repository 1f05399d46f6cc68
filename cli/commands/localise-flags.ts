import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Settings, FixwrightError } from '../../core/index.js';
import {
  ALL_SIGNALS,
  ApiEmbedder,
  DEFAULT_RANK_CONFIG,
  type Embedder,
  type FusionModel,
  loadFusionModel,
  Localiser,
  type LocaliserOptions,
  LsiEmbedder,
  type RankConfig,
  shippedFusionModel,
  type Signal,
} from '../../localisation/index.js';
import { CONFORMAL_METHODS, type ConformalMethod, DEFAULT_LEARNED_METHOD } from '../../uncertainty/index.js';

/** `fixwright localise`'s flags as commander hands them over (strings until checked). */
export interface LocaliseFlags {
  repo?: string;
  commit?: string;
  issue?: string;
  top: string;
  json?: string | boolean;
  calibration?: string;
  dataset?: string;
  repos?: string;
  alpha: string;
  folds: string;
  limit?: string;
  instances?: string;
  method?: string;
  fusion?: string;
  fitFusion?: string;
  historyRows?: string;
  calibrationOut?: string;
  includeTests?: boolean;
  cache: boolean;
  embeddings?: string;
  weights?: string;
  rrfK?: string;
  ablate?: boolean;
}

/** What every mode of `fixwright localise` shares: the checked conformal settings and the localiser they rank with. */
export interface LocaliseParts {
  alpha: number;
  method: ConformalMethod;
  localiserOptions: LocaliserOptions;
  localiser: Localiser;
}

/** Parses `bm25=1,embeddings=0.5,…` over the defaults; every signal must be known and every weight ≥ 0. */
export function rankConfigFrom(weights: string | undefined, rrfK: string | undefined): RankConfig {
  const config: RankConfig = { ...DEFAULT_RANK_CONFIG, weights: { ...DEFAULT_RANK_CONFIG.weights } };
  for (const part of (weights ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, value] = part.split('=');
    const weight = Number(value);
    if (!name || !(name in config.weights) || value === undefined || !Number.isFinite(weight) || weight < 0) {
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `--weights: '${part}' is not SIGNAL=WEIGHT with SIGNAL one of ${Object.keys(config.weights).join(', ')} and WEIGHT >= 0`,
        { field: '--weights' },
      );
    }
    config.weights[name as Signal] = weight;
  }
  if (rrfK !== undefined) {
    const k = Number(rrfK);
    if (!Number.isFinite(k) || k < 0)
      throw new FixwrightError('FW_ERR_BAD_INPUT', `--rrf-k must be a number >= 0 (got ${rrfK})`, { field: '--rrf-k' });
    config.rrfK = k;
  }
  return config;
}

/** A flag's value as a whole number of at least 1, or a bad-input error naming the flag. */
export function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `${flag} must be a whole number of at least 1 (got ${value})`, {
      field: flag,
    });
  return n;
}

function embedderFor(kind: string, settings: Settings): Embedder | undefined {
  if (kind === 'none') return undefined;
  if (kind === 'lsi') return new LsiEmbedder();
  if (kind === 'api') {
    const model = settings.models.embeddingsModel;
    if (!model)
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        '--embeddings api needs FIXWRIGHT_EMBEDDINGS_MODEL (and OPENAI_BASE_URL / OPENAI_API_KEY for the endpoint)',
        { field: '--embeddings' },
      );
    return new ApiEmbedder({
      model,
      baseURL: settings.models.baseURL,
      apiKey: settings.models.apiKey,
      cacheDir: join(settings.dataDir, 'embeddings'),
    });
  }
  throw new FixwrightError('FW_ERR_BAD_INPUT', `--embeddings must be lsi, api or none (got ${kind})`, {
    field: '--embeddings',
  });
}

/**
 * The fusion to rank with: the shipped learned model unless RRF or a model file is asked for.
 * `--weights`/`--rrf-k` tune RRF, so with them the default is RRF; asked for together with a model
 * they are refused (a model reads the signals as it was fitted, not under other weights).
 */
function fusionFrom(asked: string | undefined, rrfTuned: boolean): FusionModel | undefined {
  if (asked !== undefined && asked !== 'rrf' && rrfTuned) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--weights and --rrf-k tune RRF, and --fusion ${asked} ranks with a model fitted under the default signals: use --fusion rrf with them, or drop them`,
      { field: '--fusion' },
    );
  }
  const which = asked ?? (rrfTuned ? 'rrf' : 'learned');
  if (which === 'rrf') return undefined;
  if (which === 'learned') return shippedFusionModel();
  if (!existsSync(which))
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--fusion must be learned, rrf or a model file (no file ${which})`, {
      field: '--fusion',
    });
  return loadFusionModel(which, ALL_SIGNALS);
}

/** Flags that belong to one mode are refused in the others, so none is silently ignored. */
function checkModeFlags(flags: LocaliseFlags): void {
  const refuse = (flag: string, why: string) => {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `${flag} ${why}`, { field: flag });
  };
  if (!flags.dataset) {
    if (flags.fitFusion) refuse('--fit-fusion', 'needs --dataset FILE[,FILE] --repos DIR (the rows to fit on)');
    if (flags.ablate) refuse('--ablate', 'needs --dataset FILE --repos DIR');
    if (flags.calibrationOut)
      refuse('--calibration-out', 'needs --dataset FILE --repos DIR (the rows to calibrate on)');
    if (flags.instances) refuse('--instances', 'needs --dataset FILE');
    if (flags.method) refuse('--method', 'applies to --dataset (a calibration file carries its own method)');
    if (flags.limit && !flags.historyRows) refuse('--limit', 'applies to --dataset and --history-rows');
  }
  if (flags.historyRows && (flags.dataset || flags.issue))
    refuse('--history-rows', 'takes --repo (and --commit, --limit) only: it writes rows, it ranks nothing');
}

/**
 * Checks the flags every mode shares and builds the localiser from them (the command's composition
 * root), in the order the errors have always been reported: alpha, mode flags, fusion, method,
 * weights, embeddings.
 */
export function localiseParts(flags: LocaliseFlags, settings: Settings): LocaliseParts {
  const alpha = Number(flags.alpha);
  if (!(alpha > 0 && alpha < 1))
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--alpha must be between 0 and 1 (got ${flags.alpha})`, {
      field: '--alpha',
    });
  checkModeFlags(flags);
  const fusion = flags.fitFusion
    ? undefined
    : fusionFrom(flags.fusion, flags.weights !== undefined || flags.rrfK !== undefined);
  // A fit's sets are cut over the learned fusion's probabilities, so it takes the learned default too.
  const method = (flags.method ?? (fusion || flags.fitFusion ? DEFAULT_LEARNED_METHOD : 'aps')) as ConformalMethod;
  if (!CONFORMAL_METHODS.includes(method))
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--method must be ${CONFORMAL_METHODS.join(', ')} (got ${flags.method})`,
      {
        field: '--method',
      },
    );
  const localiserOptions: LocaliserOptions = {
    cacheDir: flags.cache ? join(settings.dataDir, 'indexes') : undefined,
    cacheMaxBytes: settings.localisation.indexCacheMb * 1024 * 1024,
    includeTests: flags.includeTests,
    config: rankConfigFrom(flags.weights, flags.rrfK),
    embedder: embedderFor(flags.embeddings ?? (settings.models.embeddingsModel ? 'api' : 'lsi'), settings),
    fusion,
  };
  return { alpha, method, localiserOptions, localiser: new Localiser(localiserOptions) };
}
