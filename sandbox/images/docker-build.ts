import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { FixwrightError } from '../../core/index.js';
import { hasDockerStatus } from '../docker-client.js';
import { filesTarStream } from '../repo-source.js';

/** Label that records which recipe an image was built from, so a changed recipe rebuilds it. */
export const RECIPE_LABEL = 'fixwright.recipe';

/** The recipe hash an existing image was built from, or undefined when there is no such image. */
export async function imageRecipe(docker: Docker, tag: string): Promise<string | undefined> {
  try {
    const info = await docker.getImage(tag).inspect();
    return info.Config?.Labels?.[RECIPE_LABEL] ?? '';
  } catch (err) {
    if (hasDockerStatus(err, 404)) return undefined;
    throw err;
  }
}

/**
 * Docker's default bridge network exists on ordinary engines; an engine started with
 * `--bridge=none` (as here) has none, and builds that need the network must use the host's.
 */
export async function buildNetworkMode(docker: Docker): Promise<'default' | 'host'> {
  try {
    await docker.getNetwork('bridge').inspect();
    return 'default';
  } catch {
    return 'host';
  }
}

/** Follows a build/import progress stream to the end, failing on the engine's error message. */
export function followProgress(docker: Docker, stream: Readable, onLine?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, output: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
        const failed = output?.find((o) => o.error || o.errorDetail);
        if (err || failed)
          reject(new Error(err?.message ?? failed?.errorDetail?.message ?? failed?.error ?? 'build failed'));
        else resolve();
      },
      (event: { stream?: string; status?: string }) => {
        const text = (event.stream ?? event.status ?? '').trimEnd();
        if (text && onLine) onLine(text);
      },
    );
  });
}

/** Builds `tag` from a Dockerfile's text (a context holding the Dockerfile and any extra files), labelled with its recipe. */
export async function buildFromDockerfile(
  docker: Docker,
  options: {
    tag: string;
    dockerfile: string;
    recipe: string;
    network: 'default' | 'host' | 'none';
    onLine?: (line: string) => void;
    /** More files of the build context (path → bytes), such as a wheel directory. */
    context?: Record<string, Buffer>;
  },
): Promise<void> {
  try {
    const stream = await docker.buildImage(
      filesTarStream({ ...options.context, Dockerfile: options.dockerfile }) as unknown as NodeJS.ReadableStream,
      {
        t: options.tag,
        labels: { [RECIPE_LABEL]: options.recipe },
        networkmode: options.network,
        rm: true,
        forcerm: true,
      },
    );
    await followProgress(docker, stream as Readable, options.onLine);
  } catch (err) {
    throw new FixwrightError('FW_ERR_IMAGE_BUILD', `building image ${options.tag} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
