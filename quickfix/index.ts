/**
 * Quick fixes for editors (POST /v1/edit, `fixwright edit`, `fixwright edit-bench`): the public
 * entry of the stage and its factory; the composition roots (api/app.ts, the CLI) import only this.
 */

import type { Redis } from 'ioredis';
import { callModel, createChatModel } from '../agent/index.js';
import type { Settings, Logger } from '../core/index.js';
import { createDockerClient } from '../sandbox/index.js';
import { AnalysisContainer, type Analyser } from './analysis-container.js';
import { EditCache } from './edit-cache.js';
import { createPythonAdapter } from './python/adapter.js';
import { type ModelAccess, QuickFixService } from './quick-fix-service.js';

export { AnalysisContainer, type Analyser, type AnalysisResult } from './analysis-container.js';
export { EditCache, cacheKey } from './edit-cache.js';
export type { AnalysisFocus, LanguageAdapter, RuleCandidate, RuleContext, RuleFixer } from './language-adapter.js';
export { changedLines, editsBetween, editsFromResponse, renderDsl, toLineEdits } from './line-edits.js';
export { createPythonAdapter, PYTHON_RULES, type PythonAdapterOptions } from './python/adapter.js';
export { planSkeleton, keptBySkeleton, type SkeletonPlan } from './python/skeleton.js';
export { MAX_CODE_BYTES, DEFAULT_MAX_EDITS } from './request-checks.js';
export { QuickFixService, type ModelAccess, type QuickFixParts } from './quick-fix-service.js';
export {
  inverseDsl,
  runEditBench,
  type BenchCase,
  type EditBenchOptions,
  type EditBenchReport,
} from './edit-bench/run-edit-bench.js';
export { readCorpus, type CorpusFile } from './edit-bench/corpus.js';
export { BUG_KINDS, type BugKind } from './edit-bench/inject.js';
export type {
  ClientDiagnostic,
  Diagnostic,
  DiagnosticKind,
  EditRequest,
  EditResponse,
  EditStatus,
  EditTier,
  EditTimings,
  FixedVerdict,
  LineEdit,
  Verification,
} from './types.js';

/** Overrides of the model the settings name (the CLI's --model/--base-url, a benchmark's scripted server). */
export interface QuickFixModelOverride {
  model?: string;
  baseURL?: string;
  apiKey?: string;
}

/** How to build the service; everything left out comes from the settings. */
export interface QuickFixOptions {
  logger?: Logger;
  /** Shares the cache between API processes (the service's Redis connection). */
  redis?: Redis;
  /** false turns the cache off (benchmarks measure work, not lookups); bounds here win over the settings'. */
  cache?: false | { maxEntries?: number; maxBytes?: number };
  model?: QuickFixModelOverride;
  tiers?: ReadonlyArray<'rule' | 'model'>;
  /** A ready analyser (tests of restarts); default: the analysis container on the sandbox image. */
  analyser?: Analyser;
}

/** The chat model from settings (and overrides), or why the model tier cannot run. */
export function modelAccess(settings: Settings, override: QuickFixModelOverride = {}): ModelAccess {
  const name = override.model ?? settings.models.chatModel;
  if (!name)
    return {
      name: null,
      reason: 'no model is configured (set FIXWRIGHT_MODEL, and OPENAI_BASE_URL/OPENAI_API_KEY for its server)',
    };
  const baseURL = override.baseURL ?? settings.models.baseURL;
  const apiKey = override.apiKey ?? settings.models.apiKey;
  return {
    name,
    ask: (temperature) => {
      // Built per request: the temperature is the request's. The client object is cheap; the connection pool is Node's.
      const chat = createChatModel({
        model: name,
        ...(baseURL ? { baseURL } : {}),
        ...(apiKey ? { apiKey } : {}),
        temperature: temperature ?? 0,
        maxTokens: Math.min(settings.models.maxTokens, 2048),
        timeoutMs: settings.models.requestTimeoutSeconds * 1000,
        maxRetries: 1,
      });
      return async (messages) => {
        const result = await callModel(chat, messages, { prices: settings.models.prices });
        return { text: result.text, durationMs: result.durationMs };
      };
    },
  };
}

/** Builds the quick-fix service: the Python adapter over one analysis container, the cache, and the model. */
export function createQuickFixService(settings: Settings, options: QuickFixOptions = {}): QuickFixService {
  const analyser =
    options.analyser ??
    new AnalysisContainer({
      docker: createDockerClient(settings.dockerHost),
      image: settings.sandbox.image,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  const { cacheMaxEntries, cacheMaxBytes, cacheTtlSeconds } = settings.quickfix;
  const cache =
    options.cache === false
      ? undefined
      : new EditCache({
          maxEntries: cacheMaxEntries,
          maxBytes: cacheMaxBytes,
          ttlSeconds: cacheTtlSeconds,
          ...(options.cache ?? {}),
          ...(options.redis ? { redis: options.redis } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        });
  return new QuickFixService({
    adapters: [createPythonAdapter(analyser)],
    model: modelAccess(settings, options.model),
    ...(cache ? { cache } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.tiers ? { tiers: options.tiers } : {}),
  });
}
