import type Docker from 'dockerode';

/** Resource limits of one sandbox container. */
export interface SandboxLimits {
  memoryBytes: number;
  cpus: number;
  pids: number;
  /** Size of the writable /work tmpfs that holds the repository copy (counts against memory). */
  workdirBytes: number;
}

/** Labels every sandbox container carries, so clean-up can tell whose it is and when it expires. */
export const LABELS = {
  sandbox: 'fixwright.sandbox',
  ownerHost: 'fixwright.owner.host',
  ownerPid: 'fixwright.owner.pid',
  started: 'fixwright.started',
  leaseUntil: 'fixwright.lease-until',
} as const;

/**
 * The unprivileged user every command in a sandbox runs as: a high uid that no host account uses
 * (there is no user-namespace remapping), and images need no passwd entry for it.
 */
export const SANDBOX_UID = 65532;
/** `User` value for execs. */
export const SANDBOX_USER = `${SANDBOX_UID}:${SANDBOX_UID}`;
/** Where the repository copy lives inside the container. */
export const WORKDIR = '/work';
/** Scratch space for fixwright's own helper files inside the container. */
export const SCRATCH_DIR = '/tmp/fixwright';
/**
 * Where the keeper reads a renewed lease: a small root-owned tmpfs the sandbox user can read but
 * not write, so code in the sandbox cannot extend its own life.
 */
export const LEASE_DIR = '/run/fixwright';
export const LEASE_FILE = `${LEASE_DIR}/lease`;

/**
 * The keeper: counts the lease down a second at a time and exits at zero, which stops the
 * container (and Docker removes it). A line "SEQ SECONDS" in LEASE_FILE with a new SEQ restarts
 * the count at SECONDS: a warm container is started with a short idle lease and given the caller's
 * lease when it is handed out. Anything unreadable in the count ends the loop, so a bad renewal
 * stops the container rather than keeping it alive. Only shell built-ins and `sleep` run (one fork
 * a second).
 */
const KEEPER = [
  'n=$1; last=0',
  'while [ "$n" -gt 0 ]; do',
  `  if [ -s ${LEASE_FILE} ] && read -r seq rest < ${LEASE_FILE} && [ "$seq" != "$last" ]; then last=$seq; n=$rest; fi`,
  '  sleep 1; n=$((n - 1))',
  'done',
].join('\n');

/** What a container is for and who owns it. */
export interface ContainerSpecInput {
  image: string;
  limits: SandboxLimits;
  /** Hard wall for the container's whole life: its keeper process exits then and Docker removes it. */
  leaseSeconds: number;
  /**
   * How long clean-up in other processes must leave the container alone (default: the lease). A
   * warm container's lease may be renewed up to this bound when it is handed out.
   */
  leaseBoundSeconds?: number;
  ownerHost: string;
  ownerPid: number;
  now: number;
}

/**
 * The locked-down create options. The keeper process counts down the lease, and the container is
 * auto-removed when it stops: if fixwright itself is killed with SIGKILL, the container still ends
 * on its own at the lease, and start-up clean-up catches it sooner.
 */
export function buildContainerSpec(input: ContainerSpecInput): Docker.ContainerCreateOptions {
  const { limits } = input;
  const lease = Math.max(1, Math.ceil(input.leaseSeconds));
  const bound = Math.max(lease, Math.ceil(input.leaseBoundSeconds ?? lease));
  return {
    Image: input.image,
    Entrypoint: ['sh', '-c', KEEPER, 'fixwright-keeper'],
    Cmd: [String(lease)],
    // The keeper (and docker-init) run as root, with no capabilities, so code running as the
    // sandbox user cannot stop or kill them to outlive the lease; every exec runs as SANDBOX_USER.
    User: '0:0',
    WorkingDir: WORKDIR,
    // PATH and the like come from the image (environment images may extend them).
    Env: ['HOME=/tmp', 'LANG=C.UTF-8', 'PYTHONDONTWRITEBYTECODE=1', 'PYTHONUNBUFFERED=1'],
    NetworkDisabled: true,
    Labels: {
      [LABELS.sandbox]: '1',
      [LABELS.ownerHost]: input.ownerHost,
      [LABELS.ownerPid]: String(input.ownerPid),
      [LABELS.started]: String(input.now),
      [LABELS.leaseUntil]: String(input.now + bound * 1000),
    },
    HostConfig: {
      AutoRemove: true,
      Init: true,
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      Memory: limits.memoryBytes,
      // Equal to Memory: no swap, so a hog is stopped instead of thrashing the host.
      MemorySwap: limits.memoryBytes,
      NanoCpus: Math.round(limits.cpus * 1e9),
      PidsLimit: limits.pids,
      IpcMode: 'private',
      ShmSize: 64 * 1024 * 1024,
      Ulimits: [
        { Name: 'nofile', Soft: 4096, Hard: 4096 },
        { Name: 'core', Soft: 0, Hard: 0 },
      ],
      Tmpfs: {
        [WORKDIR]: `rw,exec,nosuid,nodev,size=${limits.workdirBytes},uid=${SANDBOX_UID},gid=${SANDBOX_UID},mode=0755`,
        '/tmp': `rw,exec,nosuid,nodev,size=${Math.min(limits.workdirBytes, 512 * 1024 * 1024)},mode=1777`,
        [LEASE_DIR]: 'rw,noexec,nosuid,nodev,size=64k,mode=0755',
      },
      LogConfig: { Type: 'none', Config: {} },
    },
  };
}
