import Docker from 'dockerode';
import { FixwrightError } from '../core/index.js';

/** Builds a Docker client for `DOCKER_HOST` (unix socket, tcp://, ssh://) or the local socket. */
export function createDockerClient(dockerHost: string | undefined): Docker {
  if (!dockerHost) return new Docker({ socketPath: '/var/run/docker.sock' });
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      `DOCKER_HOST: '${dockerHost}' is not a URL (use unix:///path/docker.sock, tcp://host:2375 or ssh://user@host)`,
    );
  }
  const protocol = url.protocol.replace(':', '');
  if (protocol !== 'tcp' && protocol !== 'http' && protocol !== 'https' && protocol !== 'ssh') {
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      `DOCKER_HOST: unsupported scheme '${url.protocol}' (use unix://, tcp:// or ssh://)`,
    );
  }
  return new Docker({
    host: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    protocol: protocol === 'tcp' ? 'http' : (protocol as 'http' | 'https' | 'ssh'),
  });
}

/** Throws FW_ERR_DOCKER_UNREACHABLE, with what to do, unless the engine answers a ping. */
export async function ensureDockerReachable(docker: Docker, dockerHost: string | undefined): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    const where = dockerHost ?? 'unix:///var/run/docker.sock';
    const reason = err instanceof Error ? err.message : String(err);
    if ((err as NodeJS.ErrnoException).code === 'EACCES') {
      throw new FixwrightError(
        'FW_ERR_DOCKER_UNREACHABLE',
        `permission denied on the Docker engine at ${where}: add your user to the docker group (then log in again) or run as root`,
        {
          cause: err,
        },
      );
    }
    throw new FixwrightError(
      'FW_ERR_DOCKER_UNREACHABLE',
      `cannot reach the Docker engine at ${where} (${reason}); start it (for example: sudo scripts/setup.sh) or set DOCKER_HOST`,
      { cause: err },
    );
  }
}

/** True when an error from the Docker API carries the given HTTP status. */
export function hasDockerStatus(err: unknown, ...statuses: number[]): boolean {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' && statuses.includes(code);
}
