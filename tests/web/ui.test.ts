import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';
import { api, type Proc, startServe, stop } from '../helpers/service.js';

/** Screenshots land here (a test artifact; docs/ keeps two of them for the README). */
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'web');
const CHROMIUM = process.env.FIXWRIGHT_CHROMIUM ?? '/usr/bin/chromium';

const REPO = {
  'calc.py':
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n',
  'tests/test_calc.py': 'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n',
};
const TEST =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    assert add(2, 3) == 5\n```\n';
const edit = (to: string) =>
  `\ncalc.py\n\`\`\`python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return ${to}\n>>>>>>> REPLACE\n\`\`\`\n`;
const ISSUE = 'add(2, 3) returns -1 instead of 5\n\ncalc.add subtracts instead of adding.';

/** Headless Chromium with nothing that reaches off the machine on its own. */
const launchBrowser = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });

describe.skipIf(!existsSync(CHROMIUM))(
  'the web UI in headless Chromium (against fixwright serve, a fixture repository and the scripted model)',
  () => {
    let model: ScriptedServer;
    let serve: Proc & { url: string };
    let browser: Browser;
    let repo: string;
    let dataDir: string;

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      // Each model call takes a while, so the page can be seen (and reloaded) mid-run; the first fix is wrong, the second right.
      model = await startScriptedOpenAIServer({
        replies: [
          { delayMs: 1200, reply: TEST },
          { delayMs: 1200, reply: TEST + edit('a * b') },
          { delayMs: 1500, reply: TEST + edit('a + b') },
        ],
      });
      repo = makeRepo(REPO, { git: true });
      dataDir = mkdtempSync(join(tmpdir(), 'fw-web-'));
      serve = await startServe({
        OPENAI_BASE_URL: model.url,
        OPENAI_API_KEY: 'sk-web-test-0123456789abcdef',
        FIXWRIGHT_MODEL: 'scripted',
        FIXWRIGHT_DATA_DIR: dataDir,
        FIXWRIGHT_REPO_ROOTS: dirname(repo),
        FIXWRIGHT_LOG_LEVEL: 'warn',
        FIXWRIGHT_RATE_LIMIT: '100000',
        REDIS_URL: '',
      });
      browser = await launchBrowser();
    });

    afterAll(async () => {
      await browser?.close();
      if (serve) await stop(serve, 'SIGKILL');
      await model?.close();
      rmSync(dataDir, { recursive: true, force: true });
      removeRepos();
    });

    const open = async (width = 1280, height = 900): Promise<Page> => {
      const page = await browser.newPage({ viewport: { width, height } });
      // Everything is bundled: any request off the server is a bug (the test machine has no internet anyway).
      await page.route(/^(?!http:\/\/127\.0\.0\.1)/, (route) => route.abort());
      return page;
    };

    it('submits an issue, shows events live, rebuilds the timeline after a reload, and renders the diff, the tests and the verdict', async () => {
      const page = await open();
      await page.goto(serve.url);
      await page.getByLabel('Path on the server').check();
      await page.getByLabel('Repository path').fill(repo);
      await page.getByLabel('Issue', { exact: true }).fill(ISSUE);
      await page.getByLabel('Max attempts').fill('3');
      await page.screenshot({ path: join(ARTIFACTS, 'submit.png'), fullPage: true });
      await page.getByRole('button', { name: 'Fix it' }).click();
      await page.waitForURL(/#\/task\//);
      const taskId = decodeURIComponent(page.url().split('#/task/')[1]!);

      // Live: the timeline grows while the task runs.
      const timeline = page.getByRole('list', { name: /Timeline/ });
      await expect.poll(() => timeline.locator('li').count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
      await expect.poll(() => page.getByTestId('task-status').textContent()).toMatch(/running|queued/);
      const before = await timeline.locator('li').count();
      await expect.poll(() => timeline.locator('li').count(), { timeout: 30_000 }).toBeGreaterThan(before);

      // A reload mid-task rebuilds the timeline from the replay.
      const nodesBeforeReload = await timeline.locator('li .node').allTextContents();
      expect(await page.getByTestId('task-status').textContent()).toBe('running'); // reloading mid-task, not after
      await page.reload();
      const rebuilt = page.getByRole('list', { name: /Timeline/ }).locator('li .node');
      await expect.poll(() => rebuilt.count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(nodesBeforeReload.length);
      expect((await rebuilt.allTextContents()).slice(0, nodesBeforeReload.length)).toEqual(nodesBeforeReload);

      // The end: verdict, the diff rendered by diff2html, the test table, the reflection of the failed attempt.
      await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 60_000 }).toBe('resolved');
      await expect.poll(() => page.getByTestId('verdict').textContent()).toMatch(/Resolved/);
      // Where the tests ran and what the baseline found, and why each existing test ran.
      expect(await page.getByTestId('environment').textContent()).toMatch(
        /Tested in: inferred \(inferred\); baseline passed/,
      );
      const second = page.getByTestId('attempt-2');
      await expect.poll(() => second.locator('.d2h-file-wrapper').count()).toBe(1);
      expect(await second.locator('.d2h-ins .d2h-code-line-ctn').allTextContents()).toContain('    return a + b');
      expect(await second.locator('.hljs-keyword').count()).toBeGreaterThan(0); // syntax highlighting
      const rows = await second.locator('.tests table').first().locator('tbody tr').allTextContents();
      expect(rows.join(' ')).toMatch(/test_add_returns_sum.*FAILED.*PASSED/);
      expect(await second.getByTestId('regression-why').textContent()).toMatch(
        /tests\/test_calc\.py: the whole suite \(1 test files\)/,
      );
      expect(await page.getByTestId('attempt-1').locator('.reflection').textContent()).toMatch(/still fails/);
      await second.getByRole('button', { name: 'Unified' }).click();
      await expect.poll(() => second.locator('.d2h-file-side-diff').count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Download patch' }).isEnabled()).toBe(true);
      expect(await page.getByTestId('live-state').textContent()).toBe('closed');
      await page.screenshot({ path: join(ARTIFACTS, 'task.png'), fullPage: true });

      // The server agrees with the page.
      expect((await api(serve.url, `/api/task/${taskId}`)).body).toMatchObject({
        status: 'finished',
        verdict: 'resolved',
      });

      // History lists it; the dashboard counts it.
      await page.goto(`${serve.url}/#/history`);
      await expect.poll(() => page.locator('table.history tbody').textContent()).toContain('add(2, 3) returns -1');
      await page.goto(`${serve.url}/#/dashboard`);
      await expect.poll(() => page.locator('.card').first().textContent()).toMatch(/Resolve rate\s*100%/);
      await page.close();
    }, 180_000);

    it("shows bad input next to its field: the form's own checks, and the server's message for a path outside the roots", async () => {
      const page = await open();
      await page.goto(serve.url);
      await page.getByRole('button', { name: 'Fix it' }).click();
      await expect.poll(() => page.locator('#f-repo-error').textContent()).toMatch(/Give the repository/);
      expect(await page.locator('#f-issue-error').textContent()).toMatch(/Describe the issue/);
      expect(await page.locator('#f-repo').getAttribute('aria-invalid')).toBe('true');
      await page.getByLabel('Path on the server').check();
      await page.getByLabel('Repository path').fill('/etc');
      await page.getByLabel('Issue', { exact: true }).fill('x');
      await page.getByRole('button', { name: 'Fix it' }).click();
      await expect
        .poll(() => page.locator('#f-repo-error').textContent())
        .toMatch(/inside one of the server's repository roots/);
      expect(page.url()).not.toMatch(/#\/task\//);
      await page.screenshot({ path: join(ARTIFACTS, 'bad-input.png') });
      await page.close();
    });

    it('fits a phone: no sideways scrolling, every field reachable', async () => {
      const page = await open(390, 844);
      await page.goto(serve.url);
      await page.getByLabel('Issue', { exact: true }).waitFor();
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      // Keyboard: tab order reaches the submit button.
      for (let i = 0; i < 20 && (await page.evaluate(() => document.activeElement?.textContent)) !== 'Fix it'; i++)
        await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Fix it');
      await page.screenshot({ path: join(ARTIFACTS, 'phone.png'), fullPage: true });
      await page.close();
    });

    it('cancels a running task from its page, and filters the history by status', async () => {
      const submitted = await api(serve.url, '/api/solve', {
        body: { repo_path: repo, issue_text: 'cancel me', max_attempts: 1 },
      });
      const page = await open();
      await page.goto(`${serve.url}/#/task/${submitted.body.task_id}`);
      await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 30_000 }).toBe('running');
      await page.getByRole('button', { name: 'Cancel' }).click();
      await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 30_000 }).toBe('cancelled');
      expect(await page.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
      // Cancelled, not judged: no "failed" verdict on the page or from the API.
      await expect.poll(() => page.getByTestId('verdict').textContent(), { timeout: 15_000 }).toMatch(/Cancelled/);
      expect(await page.getByTestId('verdict').textContent()).not.toMatch(/Failed/);
      expect((await api(serve.url, `/api/task/${submitted.body.task_id}`)).body).toMatchObject({
        status: 'cancelled',
        verdict: null,
      });
      expect((await api(serve.url, '/api/tasks?status=cancelled')).body.tasks[0]).toMatchObject({
        status: 'cancelled',
        verdict: null,
      });
      await page.goto(`${serve.url}/#/history`);
      await page.getByLabel('Status').selectOption('cancelled');
      await expect
        .poll(async () => {
          const text = (await page.locator('table.history tbody').textContent()) ?? '';
          return text.includes('cancel me') && !text.includes('add(2, 3)');
        })
        .toBe(true);
      await page.close();
    });

    it('says so for an unknown task', async () => {
      const page = await open();
      await page.goto(`${serve.url}/#/task/no-such-task`);
      await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/No task no-such-task/);
      await page.close();
    });
  },
);

describe.skipIf(!existsSync(CHROMIUM))(
  'the web UI with API keys on, and a last attempt that fails (headless Chromium)',
  () => {
    const KEY = 'fw-ui-key-0123456789abcdef';
    let model: ScriptedServer;
    let serve: Proc & { url: string };
    let browser: Browser;
    let repo: string;
    let dataDir: string;

    beforeAll(async () => {
      // Every fix is wrong: the one attempt ends with its reproduction test still failing.
      model = await startScriptedOpenAIServer({
        replies: [
          { delayMs: 300, reply: TEST },
          { delayMs: 300, reply: TEST + edit('a * b') },
        ],
      });
      repo = makeRepo(REPO, { git: true });
      dataDir = mkdtempSync(join(tmpdir(), 'fw-web-keys-'));
      serve = await startServe({
        OPENAI_BASE_URL: model.url,
        OPENAI_API_KEY: 'sk-web-test-0123456789abcdef',
        FIXWRIGHT_MODEL: 'scripted',
        FIXWRIGHT_API_KEYS: KEY,
        FIXWRIGHT_DATA_DIR: dataDir,
        FIXWRIGHT_REPO_ROOTS: dirname(repo),
        FIXWRIGHT_LOG_LEVEL: 'warn',
        FIXWRIGHT_RATE_LIMIT: '100000',
        REDIS_URL: '',
      });
      browser = await launchBrowser();
    });

    afterAll(async () => {
      await browser?.close();
      if (serve) await stop(serve, 'SIGKILL');
      await model?.close();
      rmSync(dataDir, { recursive: true, force: true });
      removeRepos();
    });

    it('asks for the key instead of claiming the server has no default model, then shows the default', async () => {
      const page = await browser.newPage();
      await page.goto(serve.url);
      await expect.poll(() => page.locator('#f-model-hint').textContent(), { timeout: 15_000 }).toMatch(/API key/);
      expect(await page.locator('#f-model-hint').textContent()).not.toMatch(/no default model/);
      expect(await page.getByRole('alert').first().textContent()).toMatch(/API key/);
      await page.getByLabel('API key').fill(KEY);
      await page.getByRole('button', { name: 'Save' }).click();
      await expect
        .poll(() => page.locator('#f-model-hint').textContent(), { timeout: 15_000 })
        .toBe('Default: scripted');
      await page.close();
    });

    it("marks a last attempt whose reproduction test still fails as failed, never passed, and an unpriced model's cost as unpriced", async () => {
      const auth = { authorization: `Bearer ${KEY}` };
      const submitted = await api(serve.url, '/api/solve', {
        body: { repo_path: repo, issue_text: ISSUE, max_attempts: 1 },
        headers: auth,
      });
      expect(submitted.status).toBe(202);
      const page = await browser.newPage();
      await page.goto(serve.url);
      await page.evaluate((key) => localStorage.setItem('fixwright.apiKey', key), KEY);
      await page.goto(`${serve.url}/#/task/${submitted.body.task_id}`);
      await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 90_000 }).toBe('unverified');
      const attempt = page.getByTestId('attempt-1');
      await expect
        .poll(() => attempt.getByTestId('attempt-outcome').textContent(), { timeout: 15_000 })
        .toBe('repro still fails');
      expect(await attempt.locator('.badge').allTextContents()).not.toContain('passed');
      expect(await attempt.getByTestId('attempt-failure').textContent()).toMatch(/still fails with the patch applied/);
      expect(await page.getByTestId('cost').textContent()).toBe('unpriced');
      await page.screenshot({ path: join(ARTIFACTS, 'last-attempt-failed.png'), fullPage: true });

      // The API says the same: the last attempt's failure (never reflected on) and the unpriced calls.
      const task = (await api(serve.url, `/api/task/${submitted.body.task_id}`, { headers: auth })).body;
      expect(task.attempts).toHaveLength(1);
      expect(task.attempts[0]).toMatchObject({
        attempt: 1,
        failure: { category: 'repro_still_fails', message: expect.stringMatching(/still fails/) },
        score: expect.any(Number),
      });
      expect(task.attempts[0].reflection).toBeUndefined();
      expect(task).toMatchObject({ verdict: 'unverified', cost_usd: 0, unpriced_calls: 2 });
      const listed = (await api(serve.url, '/api/tasks', { headers: auth })).body.tasks[0];
      expect(listed).toMatchObject({ task_id: submitted.body.task_id, unpriced_calls: 2 });
      await page.goto(`${serve.url}/#/history`);
      await expect
        .poll(() => page.locator('table.history tbody').textContent(), { timeout: 15_000 })
        .toContain('unpriced');
      await page.close();
    }, 180_000);
  },
);

describe.skipIf(!existsSync(CHROMIUM))('the web UI in demo mode (fixwright serve --demo, headless Chromium)', () => {
  let serve: Proc & { url: string };
  let browser: Browser;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'fw-web-demo-'));
    // No model, no key, no repository roots: the demo brings its own.
    serve = await startServe(
      {
        FIXWRIGHT_DATA_DIR: dataDir,
        FIXWRIGHT_MODEL: '',
        OPENAI_API_KEY: '',
        OPENAI_BASE_URL: '',
        FIXWRIGHT_REPO_ROOTS: '',
        FIXWRIGHT_LOG_LEVEL: 'warn',
        FIXWRIGHT_RATE_LIMIT: '100000',
        REDIS_URL: '',
      },
      ['--demo'],
    );
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    if (serve) await stop(serve, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('offers "Run the demo", which shows the whole loop: a rejected first attempt, its reflection, the proven fix', async () => {
    const page = await browser.newPage();
    await page.route(/^(?!http:\/\/127\.0\.0\.1)/, (route) => route.abort());
    await page.goto(serve.url);
    await expect.poll(() => page.getByTestId('demo').count(), { timeout: 15_000 }).toBe(1);
    await page.getByLabel('Max attempts').fill('1'); // the demo still gets the attempts it needs
    await page.getByRole('button', { name: 'Run the demo' }).click();
    await expect.poll(() => page.url(), { timeout: 15_000 }).toContain('#/task/');
    await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 90_000 }).toBe('resolved');
    expect(await page.getByTestId('attempt-1').locator('.reflection').textContent()).toMatch(/regression/);
    expect(await page.getByTestId('attempt-2').locator('.d2h-ins .d2h-code-line-ctn').allTextContents()).toContain(
      '    return price - price * percent / 100',
    );
    await page.screenshot({ path: join(ARTIFACTS, 'demo.png'), fullPage: true });
    await page.close();
  }, 120_000);
});
