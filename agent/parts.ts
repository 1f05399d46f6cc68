import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Settings, assetPath } from '../core/index.js';
import {
  DEFAULT_RANK_CONFIG,
  Localiser,
  LsiEmbedder,
  type RankConfig,
  shippedFusionModel,
} from '../localisation/index.js';
import {
  extensionBuildLimits,
  prepareEnvironmentImage,
  prepareExtensionBuild,
  type SandboxRuntime,
} from '../sandbox/index.js';
import { loadCalibration, type Calibration } from '../uncertainty/index.js';
import type { ModelFactory, Ranker, Sandbox } from './deps.js';
import { createChatModel, endpointOf, preflightModelEndpoint, type ModelProvider } from './models.js';

/** The model a run asks: its name, where it is served, and the temperature per attempt (the last one repeats). */
export interface ModelChoice {
  model: string;
  provider?: ModelProvider;
  baseURL?: string;
  temperatures: readonly number[];
}

/** The parts a run is built from, as the nodes see them. */
export interface AgentParts {
  modelFor: ModelFactory;
  localiser: Ranker;
  /** The conformal calibration; null runs without one (the top three files form the set). */
  calibration: Calibration | null;
  sandbox: Sandbox;
}

/** What an entry hands over to have the parts built: its sandbox runtime, and any part it builds itself. */
export interface GivenParts {
  /** The process's sandbox runtime; the nodes see it as a Sandbox. */
  runtime: SandboxRuntime;
  /** A localiser to use (a worker shares one across its jobs); default: a fresh one, see createLocaliser. */
  localiser?: Ranker;
  /** The calibration; null runs without one; default: the shipped one, where present. */
  calibration?: Calibration | null;
}

/** A localiser over the offline LSI embedder, caching indexes under the data directory. */
export function createLocaliser(
  settings: Settings,
  options: { config?: RankConfig; embeddings?: boolean } = {},
): Localiser {
  // A config other than the default (ablations, tests) asks for RRF with those weights; the default one
  // is the shipped system, so it keeps the learned fusion and with it the shipped calibration's ranker.
  const rrf = options.config !== undefined && JSON.stringify(options.config) !== JSON.stringify(DEFAULT_RANK_CONFIG);
  const fusion = rrf ? undefined : shippedFusionModel();
  return new Localiser({
    cacheDir: join(settings.dataDir, 'indexes'),
    cacheMaxBytes: settings.localisation.indexCacheMb * 1024 * 1024,
    embedder: options.embeddings === false ? undefined : new LsiEmbedder(),
    config: rrf ? options.config : undefined,
    fusion,
  });
}

/** The conformal calibration shipped with fixwright, when present. */
export function shippedCalibration(): Calibration | undefined {
  const path = assetPath('uncertainty/calibration.json');
  return existsSync(path) ? loadCalibration(path) : undefined;
}

/** The sandbox runtime as the nodes see it: the Docker client it holds stays here. */
export function sandboxOf(runtime: SandboxRuntime): Sandbox {
  return {
    withSandbox: (options, task) => runtime.withSandbox(options, task),
    prepareEnvironmentImage: (environment, options) => prepareEnvironmentImage(runtime.docker, environment, options),
    prepareExtensionBuild: (environment, options) => prepareExtensionBuild(runtime, environment, options),
    extensionBuildLimits: () => extensionBuildLimits(runtime.settings),
  };
}

/**
 * The chat models of a run: one LangChain client per call, at the attempt's temperature (or the
 * candidate's own), with the configured key, answer length and request timeout.
 */
export function chatModels(settings: Settings, choice: ModelChoice): ModelFactory {
  const temperatures = choice.temperatures.length > 0 ? choice.temperatures : [0];
  return (attempt, temperature) =>
    createChatModel({
      model: choice.model,
      provider: choice.provider,
      baseURL: choice.baseURL,
      apiKey: settings.models.apiKey,
      temperature: temperature ?? temperatures[Math.min(attempt - 1, temperatures.length - 1)],
      maxTokens: settings.models.maxTokens,
      timeoutMs: settings.models.requestTimeoutSeconds * 1000,
    });
}

/** The parts that do not depend on the run's model: the localiser, the calibration and the sandbox. */
export function sharedAgentParts(settings: Settings, given: GivenParts): Omit<AgentParts, 'modelFor'> {
  return {
    localiser: given.localiser ?? createLocaliser(settings),
    calibration: given.calibration === undefined ? (shippedCalibration() ?? null) : given.calibration,
    sandbox: sandboxOf(given.runtime),
  };
}

/**
 * fixwright's own parts for a run, the one wiring every entry (CLI, worker, bench, demo) goes
 * through: chat models from configuration, the given or a fresh localiser, the given or the shipped
 * calibration, and the runtime seen as a Sandbox. A caller swaps the localiser or the calibration by
 * giving its own, and any part by overriding it in the result (the models are built only when asked).
 */
export function defaultAgentParts(settings: Settings, choice: ModelChoice, given: GivenParts): AgentParts {
  return { modelFor: chatModels(settings, choice), ...sharedAgentParts(settings, given) };
}

/**
 * Checks a model configuration now, so a bad one fails before any work starts: the client can be
 * built, then one short request (GET {baseURL}/models) shows the endpoint answers and takes the key.
 */
export async function checkModel(
  choice: Pick<ModelChoice, 'model' | 'provider' | 'baseURL'>,
  settings: Settings,
  preflight: { timeoutMs?: number } = {},
): Promise<void> {
  createChatModel({
    model: choice.model,
    provider: choice.provider,
    baseURL: choice.baseURL,
    apiKey: settings.models.apiKey,
  });
  await preflightModelEndpoint(
    endpointOf(choice.provider, choice.baseURL),
    settings.models.apiKey,
    preflight.timeoutMs,
  );
}
