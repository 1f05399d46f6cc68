import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../agent/index.js';
import { DiskTaskStore } from '../../api/store/disk-store.js';
import { newTask, type TaskRequest } from '../../api/task.js';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { fold, fourCandidates, oldLog } from '../helpers/candidate-events.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';
import { api, type Proc, startServe, stop } from '../helpers/service.js';

const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'web');
const CHROMIUM = process.env.FIXWRIGHT_CHROMIUM ?? '/usr/bin/chromium';

/** The four candidates, but 1 and 3 (one group) fail by regression, their message starting with the category as the agent writes it. */
const regressed = (taskId: string): AgentEvent[] =>
  fourCandidates(taskId).map((e) =>
    e.type === 'log' && e.data.step === 'select'
      ? {
          ...e,
          data: {
            ...e.data,
            candidates: (e.data.candidates as Array<Record<string, unknown>>).map((c) =>
              c.group === 1
                ? {
                    ...c,
                    failure: 'regression',
                    message: 'regression: tests/test_calc.py::test_mul passed before, fails now',
                    regressions: ['tests/test_calc.py::test_mul'],
                  }
                : c,
            ),
          },
        }
      : e,
  );

/** A finished task with these events, written where `fixwright serve` keeps tasks (FIXWRIGHT_DATA_DIR/tasks). */
async function storeFinished(dataDir: string, taskId: string, issue: string, events: AgentEvent[]): Promise<void> {
  const store = new DiskTaskStore(join(dataDir, 'tasks'));
  const request: TaskRequest = {
    repo_url: 'https://github.com/acme/calc',
    issue_text: issue,
    max_attempts: 3,
    samples: 4,
  };
  await store.create(newTask(taskId, request, new Date('2026-11-26T00:00:00Z')));
  for (const event of events) await store.append(event);
  await store.change(taskId, {
    set: {
      status: 'finished',
      started_at: '2026-11-26T00:00:01.000Z',
      finished_at: '2026-11-26T00:01:00.000Z',
      summary: fold(events),
    },
  });
  await store.close();
}

describe.skipIf(!existsSync(CHROMIUM))(
  'the web UI shows the candidates of each attempt (headless Chromium, fixwright serve)',
  () => {
    let serve: Proc & { url: string };
    let browser: Browser;
    let dataDir: string;
    let model: ScriptedServer;
    let repo: string;

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      dataDir = mkdtempSync(join(tmpdir(), 'fw-web-candidates-'));
      // Runs recorded before the server starts, as a worker would have written them.
      await storeFinished(
        dataDir,
        'four-candidates',
        'add(2, 3) returns -1 instead of 5',
        fourCandidates('four-candidates'),
      );
      await storeFinished(dataDir, 'old-log', 'an old run, before sampling', oldLog('old-log'));
      await storeFinished(dataDir, 'regressed', 'candidates that break mul', regressed('regressed'));
      // A slow model: a task submitted from the form stays running while the test reads it.
      model = await startScriptedOpenAIServer({ replies: [{ delayMs: 30_000, reply: 'NO_EDITS' }] });
      repo = makeRepo({ 'calc.py': 'def add(a, b):\n    return a - b\n' }, { git: true });
      serve = await startServe({
        OPENAI_BASE_URL: model.url,
        OPENAI_API_KEY: 'sk-web-test-0123456789abcdef',
        FIXWRIGHT_MODEL: 'scripted',
        FIXWRIGHT_DATA_DIR: dataDir,
        FIXWRIGHT_REPO_ROOTS: dirname(repo),
        FIXWRIGHT_MAX_SAMPLES: '3',
        FIXWRIGHT_LOG_LEVEL: 'warn',
        FIXWRIGHT_RATE_LIMIT: '100000',
        REDIS_URL: '',
      });
      browser = await chromium.launch({
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
    });

    afterAll(async () => {
      await browser?.close();
      if (serve) await stop(serve, 'SIGKILL');
      await model?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      removeRepos();
    });

    const open = async (): Promise<Page> => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.route(/^(?!http:\/\/127\.0\.0\.1)/, (route) => route.abort());
      return page;
    };

    it('lists every candidate with its rating, marks the winner, says why it won and which tests judged, and shows its diff', async () => {
      const page = await open();
      await page.goto(`${serve.url}/#/task/four-candidates`);
      await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 15_000 }).toBe('resolved');
      const section = page.getByTestId('candidates-1');
      const table = section.getByRole('table');
      await expect.poll(() => table.locator('tbody tr').count(), { timeout: 15_000 }).toBe(4);
      // Rows come with each candidate's model call, the selection with a later event: wait for it.
      await expect
        .poll(() => table.locator('caption').textContent(), { timeout: 15_000 })
        .toBe('4 candidates; the tests picked candidate 2');
      expect(await table.locator('thead th').allTextContents()).toEqual([
        'candidate',
        'temperature',
        'context',
        'group',
        'judge tests passed',
        'regressions',
        'failure',
        'tokens (in / out)',
        'cost',
      ]);
      const rows = await table
        .locator('tbody tr')
        .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((cell) => (cell.textContent ?? '').trim())));
      expect(rows).toEqual([
        ['2chosen', '0.4', 'top file', 'own · 1 vote', '2 of 2', 'none', 'none', '1,000 / 100', '$0.01'],
        [
          '1',
          '0',
          'conformal set',
          'own · 2 votes',
          '0 of 2',
          'none',
          'repro still fails the reproduction test still fails',
          '1,000 / 100',
          '$0.01',
        ],
        [
          '3',
          '0.7',
          'top functions',
          'as 1 · 2 votes',
          '0 of 2',
          'none',
          'repro still fails the reproduction test still fails',
          '1,000 / 100',
          'unpriced',
        ],
        [
          '4',
          '0.7',
          'conformal set',
          'no change',
          '0 of 2',
          'none',
          'edit not applied SEARCH block not found in calc.py',
          '1,000 / 100',
          '$0.01',
        ],
      ]);
      // The winner is marked for sight and for screen readers.
      expect(await table.locator('tbody tr[aria-current="true"] th').textContent()).toBe('2chosen');
      expect(await section.getByTestId('selection-reason').textContent()).toBe(
        'Chosen: candidate 2. candidate 2 passes 2 of 2 valid judge tests with no regression',
      );
      expect(await section.getByTestId('judges').locator('summary').textContent()).toBe('Judge tests (2 of 3 valid)');
      expect(await section.getByTestId('judges').locator('li').allTextContents()).toEqual([
        'tests/test_repro_add.py from reproduce: valid',
        'tests/test_repro_add_2.py from candidate 2: valid',
        'tests/test_repro_add_3.py from candidate 3: not valid (passes without any patch)',
      ]);
      // The attempt's diff is the winner's, not candidate 1's; the others' are folded away.
      const attempt = page.getByTestId('attempt-1');
      await expect
        .poll(() => attempt.locator('.d2h-ins .d2h-code-line-ctn').allTextContents())
        .toContain('    return a + b');
      expect(await attempt.getByRole('group', { name: 'Attempt 1, candidate 2: layout' }).count()).toBe(1);
      expect(await section.locator('details pre').allTextContents()).toEqual([
        expect.stringContaining('return a * b'),
        expect.stringContaining('return a * b'),
      ]);
      expect(await attempt.getByTestId('attempt-outcome').textContent()).toBe('passed');
      await page.screenshot({ path: join(ARTIFACTS, 'candidates.png'), fullPage: true });

      // The API's view is the page's: the same fold of the same events.
      const task = (await api(serve.url, '/api/task/four-candidates')).body;
      expect(task.attempts[0]).toMatchObject({
        candidate: 2,
        selection: { winner: 2 },
        diff: expect.stringContaining('return a + b'),
      });
      expect(task.attempts[0].candidates.map((c: { candidate: number }) => c.candidate)).toEqual([2, 1, 3, 4]);
      await page.close();
    }, 60_000);

    it('names a failure once: the category as a badge, then the message without it', async () => {
      const page = await open();
      await page.goto(`${serve.url}/#/task/regressed`);
      const table = page.getByTestId('candidates-1').getByRole('table');
      await expect.poll(() => table.locator('tbody tr').count(), { timeout: 15_000 }).toBe(4);
      // The failures come with the select log, after the rows: wait for them.
      const failures = () =>
        table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => (tr.children[6]?.textContent ?? '').trim()));
      await expect
        .poll(failures, { timeout: 15_000 })
        .toEqual([
          'none',
          'regression tests/test_calc.py::test_mul passed before, fails now',
          'regression tests/test_calc.py::test_mul passed before, fails now',
          'edit not applied SEARCH block not found in calc.py',
        ]);
      await page.close();
    }, 60_000);

    it('shows an old run (no candidate fields) as before: no candidates table', async () => {
      const page = await open();
      await page.goto(`${serve.url}/#/task/old-log`);
      await expect.poll(() => page.getByTestId('task-status').textContent(), { timeout: 15_000 }).toBe('failed');
      await expect
        .poll(() => page.getByTestId('attempt-1').locator('.d2h-file-wrapper').count(), { timeout: 15_000 })
        .toBe(1);
      expect(await page.getByTestId('candidates-1').count()).toBe(0);
      await expect
        .poll(() => page.getByTestId('attempt-2').getByTestId('attempt-outcome').textContent(), { timeout: 15_000 })
        .toBe('edit not applied');
      await page.close();
    });

    it("asks for candidates per attempt on the form, within the server's limit, and submits them", async () => {
      const page = await open();
      await page.goto(serve.url);
      const field = page.getByLabel('Candidates per attempt');
      await expect
        .poll(() => page.locator('#f-samples-hint').textContent(), { timeout: 15_000 })
        .toBe('Each candidate is one more model call; the tests pick one. At most 3 here.');
      expect(await field.inputValue()).toBe('1');
      expect(await field.getAttribute('aria-describedby')).toBe('f-samples-hint');
      await page.getByLabel('Path on the server').check();
      await page.getByLabel('Repository path').fill(repo);
      await page.getByLabel('Issue', { exact: true }).fill('add(2, 3) returns -1 instead of 5');
      await field.fill('4');
      await page.getByRole('button', { name: 'Fix it' }).click();
      await expect
        .poll(() => page.locator('#f-samples-error').textContent())
        .toBe("A whole number from 1 to 3 (this server's limit).");
      expect(await field.getAttribute('aria-invalid')).toBe('true');
      expect(page.url()).not.toMatch(/#\/task\//);

      await field.fill('3');
      await page.getByRole('button', { name: 'Fix it' }).click();
      await page.waitForURL(/#\/task\//);
      const taskId = decodeURIComponent(page.url().split('#/task/')[1]!);
      expect((await api(serve.url, `/api/task/${taskId}`)).body.request).toMatchObject({ samples: 3, repo_path: repo });
      await api(serve.url, `/api/task/${taskId}/cancel`, { method: 'POST' });
      await page.close();
    }, 60_000);
  },
);
