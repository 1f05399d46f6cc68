import { type ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { LABELS } from '../../sandbox/container-spec.js';

/** What one CLI run printed and how it exited. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

/** Starts the built `fixwright` CLI as a user would (npm test builds dist/ first). */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to the end, keeping stdout as raw bytes. */
export function runCliRaw(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

/** Runs the CLI to the end. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await runCliRaw(args, env);
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr };
}

/** Sandbox containers owned by a given process on this host. */
export async function containersOf(pid: number): Promise<string[]> {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.ownerPid}=${pid}`, `${LABELS.ownerHost}=${hostname()}`] },
  });
  return list.map((c) => c.Id);
}
