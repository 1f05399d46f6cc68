import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings, ScriptedServer } from '../../core/index.js';
import type { SandboxRuntime } from '../../sandbox/index.js';
import type { EventLog } from '../events.js';
import { defaultAgentParts } from '../parts.js';
import { DEFAULT_TEMPERATURES, solveIssue, type SolveOutcome } from '../solve-issue.js';
import { DEMO_MODEL, startDemoModel } from './demo-model.js';
import { DEMO_ISSUE, writeDemoRepository } from './demo-repo.js';

/** The demo's model running on loopback, and the settings that point the agent at it. */
export interface DemoModel {
  server: ScriptedServer;
  /** The caller's settings with the model, its endpoint, a one-off key and a zero price. */
  settings: Settings;
  close(): Promise<void>;
}

/**
 * Starts the demo's scripted model and returns settings aimed at it. The key is random per run so
 * nothing else on the machine can drive the model; the price is zero because the demo is free.
 */
export async function openDemoModel(settings: Settings): Promise<DemoModel> {
  const apiKey = `demo-${randomBytes(12).toString('hex')}`;
  const server = await startDemoModel(apiKey);
  const models = {
    ...settings.models,
    chatModel: DEMO_MODEL,
    baseURL: server.url,
    apiKey,
    prices: { ...settings.models.prices, [DEMO_MODEL]: { inputPerMTok: 0, outputPerMTok: 0 } },
  };
  return { server, settings: Object.freeze({ ...settings, models }), close: () => server.close() };
}

/** What a demo run needs: a folder of its own, the sandbox, and where its events go. */
export interface DemoRunOptions {
  /** The demo repository is written to `<workDir>/shop`. */
  workDir: string;
  settings: Settings;
  events: EventLog;
  runtime: SandboxRuntime;
  signal?: AbortSignal;
}

/** The demo's ending, with where its repository was written. */
export interface DemoOutcome extends SolveOutcome {
  repoDir: string;
}

/** Solves the bundled issue in the bundled repository with the bundled model: the whole loop, offline. */
export async function runDemo(options: DemoRunOptions): Promise<DemoOutcome> {
  const repoDir = join(options.workDir, 'shop');
  writeDemoRepository(repoDir);
  const model = await openDemoModel(options.settings);
  try {
    options.events.emit('status', { status: 'running', repo: repoDir, model: DEMO_MODEL });
    const outcome = await solveIssue(
      { repo: { path: repoDir }, issue: DEMO_ISSUE, maxAttempts: 3, testTimeoutSeconds: 60 },
      {
        // The demo's settings carry its model's one-off key and zero price: the parts are wired from them.
        ...defaultAgentParts(
          model.settings,
          { model: DEMO_MODEL, baseURL: model.server.url, temperatures: DEFAULT_TEMPERATURES },
          { runtime: options.runtime },
        ),
        settings: model.settings,
        events: options.events,
        signal: options.signal,
      },
    );
    return { ...outcome, repoDir };
  } finally {
    await model.close();
  }
}

/** What the UI's "Run the demo" button submits. */
export interface DemoTask {
  repo_path: string;
  issue_text: string;
  model: string;
}

/** A server in demo mode: settings aimed at the demo's model and repository, and what to submit. */
export interface DemoService {
  settings: Settings;
  task: DemoTask;
  close(): Promise<void>;
}

/**
 * Prepares `fixwright serve --demo`: a fresh demo repository under the data directory (the only
 * repository root added), the scripted model as the server's one allowed model, free.
 */
export async function prepareDemoService(settings: Settings): Promise<DemoService> {
  const root = join(settings.dataDir, 'demo');
  const repoDir = join(root, 'shop');
  rmSync(repoDir, { recursive: true, force: true });
  writeDemoRepository(repoDir);
  const model = await openDemoModel(settings);
  const service = {
    ...model.settings.service,
    repoRoots: [...model.settings.service.repoRoots, root],
    allowedModels: [DEMO_MODEL],
  };
  return {
    settings: Object.freeze({ ...model.settings, service: Object.freeze(service) }),
    task: { repo_path: repoDir, issue_text: DEMO_ISSUE, model: DEMO_MODEL },
    close: model.close,
  };
}
