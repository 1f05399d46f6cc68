import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../core/metrics.js';
import { applyPatch, type SandboxRuntime } from '../../sandbox/index.js';
import { ownContainers, testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

// Each attack is really attempted inside a real sandbox; each test asserts the specific sign of
// containment, not merely a non-zero exit.
describe('sandbox attack suite', () => {
  let runtime: SandboxRuntime;
  let repo: string;
  const py = (code: string, timeoutSeconds = 30, limits = {}) =>
    runtime.runCommand({ repo: { kind: 'dir', path: repo }, argv: ['python3', '-c', code], timeoutSeconds, limits });

  beforeAll(async () => {
    runtime = await testRuntime({ concurrency: 2 });
    repo = makeRepo({ 'mod.py': 'X = 1\n' });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });

  it('has no network: only lo, and no DNS', async () => {
    const r = await py(`
import socket
print(sorted(n for _, n in socket.if_nameindex()))
try:
    socket.getaddrinfo('example.com', 80); print('RESOLVED')
except OSError as e: print('dns failed')
try:
    socket.create_connection(('1.1.1.1', 80), timeout=3); print('CONNECTED')
except OSError as e: print('connect failed', e.errno)`);
    expect(r.stdout.text).toMatch(/^\['lo'\]$/m);
    expect(r.stdout.text).toContain('dns failed');
    expect(r.stdout.text).toMatch(/connect failed 101/); // ENETUNREACH
  });

  it('cannot write the root filesystem or reach host paths', async () => {
    const r = await py(`
import os
for p in ['/etc/x', '/usr/x', '/x']:
    try: open(p, 'w'); print('WROTE', p)
    except OSError as e: print('denied', p, e.errno)
print(os.path.exists('/var/run/docker.sock'), os.path.exists('${repo}'))
open('mod.py', 'w').write('X = 2\\n')`);
    expect(r.stdout.text).toMatch(/denied \/etc\/x (13|30)/);
    expect(r.stdout.text).toMatch(/denied \/usr\/x (13|30)/);
    expect(r.stdout.text).toMatch(/denied \/x (13|30)/);
    expect(r.stdout.text).toContain('False False'); // no Docker socket, no host path
    expect(readFileSync(join(repo, 'mod.py'), 'utf8')).toBe('X = 1\n'); // the host copy is untouched
  });

  it('has no capabilities and does not run as root', async () => {
    const r = await py(`
import os
print([l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm', 'CapBnd', 'NoNewPrivs'))])
print(os.getuid(), os.getgid())
try: os.setuid(0); print('BECAME ROOT')
except PermissionError: print('setuid denied')`);
    expect(r.stdout.text).toContain("['0000000000000000', '0000000000000000', '0000000000000000', '1']");
    expect(r.stdout.text).toMatch(/^65532 65532$/m);
    expect(r.stdout.text).toContain('setuid denied');
  });

  it('cannot stop or kill the container’s keeper to outlive its lease', async () => {
    const r = await py(`
import os, signal
for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):
    if pid == os.getpid(): continue
    name = open('/proc/%d/comm' % pid).read().strip()
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        try: os.kill(pid, sig); print('SIGNALLED', name)
        except PermissionError: print('denied', name)
        except ProcessLookupError: pass`);
    expect(r.stdout.text).toMatch(/denied sleep/);
    expect(r.stdout.text).not.toContain('SIGNALLED');
  });

  it('kills an infinite loop at the timeout', async () => {
    const started = Date.now();
    const r = await py('while True: pass', 2);
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(124);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('stops a memory hog and reports it as OOM', async () => {
    const r = await py("a = bytearray(1024 ** 3); a[::4096] = b'x' * len(a[::4096]); print('SURVIVED')", 30, {
      memoryBytes: 128 * 1024 ** 2,
    });
    expect(r.oomKilled).toBe(true);
    expect(r.exitCode).toBe(137);
    expect(r.stdout.text).not.toContain('SURVIVED');
  });

  it('contains a fork bomb with the pids limit', async () => {
    const r = await py(
      `
import os, time
n = 0
try:
    while True:
        if os.fork() == 0: time.sleep(5); os._exit(0)
        n += 1
except OSError as e: print('forks stopped at', n, e.errno)`,
      30,
      { pids: 64 },
    );
    expect(r.stdout.text).toMatch(/forks stopped at \d+ 11/); // EAGAIN
    const n = Number(/forks stopped at (\d+)/.exec(r.stdout.text)![1]);
    expect(n).toBeLessThan(64);
  });

  it('caps 200 MB of output, keeping head and tail', async () => {
    const r = await py("import sys; sys.stdout.write('H' + 'x' * 200_000_000 + 'T')");
    expect(r.stdout.totalBytes).toBe(200_000_002);
    expect(r.stdout.text.length).toBeLessThan(runtime.settings.outputCapBytes + 200);
    expect(r.stdout.text.startsWith('H')).toBe(true);
    expect(r.stdout.text.endsWith('T')).toBe(true);
    expect(r.stdout.truncatedBytes).toBeGreaterThan(190_000_000);
  });

  it('rejects a patch that climbs out with ../ before it reaches the container', async () => {
    const patch =
      'diff --git a/../escape.txt b/../escape.txt\nnew file mode 100644\n--- /dev/null\n+++ b/../escape.txt\n@@ -0,0 +1 @@\n+pwned\n';
    const result = await runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, (s) =>
      applyPatch(s, patch, { repoDir: repo }),
    );
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.reason).toBe('rejected');
    expect(result.ok === false && result.message).toMatch(/'\.\.\/escape\.txt' uses '\.\.' .*\[rule parent-dir\]/);
  });

  it('keeps warm containers locked down: the code cannot renew its own lease or stop the keeper', async () => {
    // The runtime keeps warm containers (as many as its concurrency): the runs above took some.
    const r = await py(
      `
import os, signal
try:
    open('/run/fixwright/lease', 'w').write('99 999999'); print('RENEWED')
except OSError as e: print('lease denied', e.errno)
try:
    os.kill(1, signal.SIGKILL); print('KILLED INIT')
except OSError as e: print('init denied', e.errno)
keeper = [p for p in os.listdir('/proc') if p.isdigit() and p not in ('1', str(os.getpid())) and ` +
        `b'\\0fixwright-keeper\\0' in open(f'/proc/{p}/cmdline','rb').read()]
for p in keeper:
    try:
        os.kill(int(p), signal.SIGSTOP); print('STOPPED KEEPER')
    except OSError as e: print('keeper denied', e.errno)
print('keepers', len(keeper))`,
    );
    expect(r.stdout.text).toMatch(/^lease denied 13$/m); // EACCES
    expect(r.stdout.text).toMatch(/^init denied 1$/m); // EPERM
    expect(r.stdout.text).toMatch(/^keeper denied 1$/m);
    expect(r.stdout.text).toMatch(/^keepers 1$/m);
    expect(r.stdout.text).not.toMatch(/RENEWED|KILLED|STOPPED/);
  });

  it('counts what happened in Prometheus metrics', async () => {
    await runtime.warm.drain();
    const text = await metricsRegistry.metrics();
    expect(text).toMatch(/^fixwright_sandbox_execs_total\{outcome="timeout"\} [1-9]/m);
    expect(text).toMatch(/^fixwright_sandbox_execs_total\{outcome="oom"\} [1-9]/m);
    expect(text).toMatch(/^fixwright_sandbox_containers 0$/m);
  });

  it('leaves no container behind', async () => {
    // Give auto-removal after the kills above a moment to finish.
    for (let i = 0; i < 50 && (await ownContainers()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await ownContainers()).toEqual([]);
  });
});
