import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoReply } from '../../agent/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';

const NO_MODEL = { OPENAI_API_KEY: '', OPENAI_BASE_URL: '', FIXWRIGHT_MODEL: '' };

describe('fixwright demo (offline, no key, real sandbox)', () => {
  const dirs: string[] = [];
  const temp = () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-demo-test-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('runs the whole loop: a first patch that breaks a neighbouring test is rejected, reflected on, and the real fix proven', async () => {
    const base = temp();
    const out = join(base, 'out');
    const r = await runCli(['demo', '--out', out], { ...NO_MODEL, FIXWRIGHT_DATA_DIR: join(base, 'data') });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Localised the issue: shop\/pricing\.py/m);
    expect(r.stdout).toMatch(/attempt 1 rejected \(regression\).*test_no_discount_keeps_the_price/);
    expect(r.stdout).toMatch(/^resolved: proven in the sandbox after 2 attempt\(s\)$/m);
    expect(readFileSync(join(out, 'patch.diff'), 'utf8')).toContain('+    return price - price * percent / 100');
    const events = readFileSync(join(out, 'trajectory.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string; data: Record<string, unknown> });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.type === 'reflection').map((e) => e.data.category)).toEqual(['regression']);
    expect(events.at(-1)).toMatchObject({ type: 'done', data: { status: 'resolved' } });
    // The demo's one-off key never reaches the trajectory.
    const calls = events.filter((e) => e.type === 'model_call');
    expect(calls.length).toBe(3);
    expect(readFileSync(join(out, 'trajectory.jsonl'), 'utf8')).not.toMatch(/demo-[0-9a-f]{24}/);
  });

  it('refuses an --out folder that already holds something', async () => {
    const out = temp();
    writeFileSync(join(out, 'trajectory.jsonl'), '{}\n');
    const r = await runCli(['demo', '--out', out], NO_MODEL);
    expect(r.stderr).toMatch(/--out .* is not empty/);
    expect(r.code).toBe(2);
  });

  it('says in one line why an --out cannot be made (under a file, in /proc) without spinning', async () => {
    const base = temp();
    writeFileSync(join(base, 'afile'), '');
    const underFile = await runCli(['demo', '--out', join(base, 'afile', 'x')], NO_MODEL);
    expect(underFile.stderr).toBe(
      `fixwright: --out ${join(base, 'afile', 'x')}: cannot create the folder (${join(base, 'afile')} is a file, not a folder); pass another --out\n`,
    );
    expect(underFile.code).toBe(2);
    const proc = await runCli(['demo', '--out', '/proc/fixwright-nope'], NO_MODEL);
    expect(proc.stderr).toMatch(/^fixwright: --out \/proc\/fixwright-nope: cannot create the folder/);
    expect(proc.code).toBe(2);
  });

  it('Ctrl-C: one line, exit 130, and the trajectory ends with a cancelled done', async () => {
    const out = join(temp(), 'out');
    const child = spawnCli(['demo', '--out', out], NO_MODEL);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    // Mid-run: once the environment is known, the baseline is under way in the sandbox.
    for (let i = 0; i < 200 && !/^Environment:/m.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toBe(`fixwright: cancelled; the demo so far is in ${out}\n`);
    const events = readFileSync(join(out, 'trajectory.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    expect(events.at(-1)).toMatchObject({ type: 'done', data: { stopped_by: 'cancelled' } });
  });

  it('a demo that cannot run (no sandbox image) exits 3 and says to set up the sandbox', async () => {
    const out = join(temp(), 'out');
    const r = await runCli(['demo', '--out', out], { ...NO_MODEL, FIXWRIGHT_SANDBOX_IMAGE: 'fixwright-nope:1' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^fixwright: the demo could not run: .*sandbox image 'fixwright-nope:1' not found.*scripts\/setup\.sh/,
    );
    expect(r.stdout).not.toMatch(/^Next:/m);
  });

  it('its scripted model answers what each request asks, whatever the order', () => {
    const ask = (content: string) =>
      demoReply({
        messages: [
          { role: 'system', content: 'x' },
          { role: 'user', content },
        ],
      }) as string;
    expect(ask('… Write only the reproduction test now (step 1 …')).toMatch(/^# tests\/test_discount_percent\.py$/m);
    expect(ask('Your previous attempt failed (regression): …')).toContain('return price - price * percent / 100');
    expect(ask('Fix the issue.')).toContain('return round(price * (100 - percent) / 100)');
  });
});
