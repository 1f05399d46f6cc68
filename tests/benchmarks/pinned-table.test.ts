import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { environmentFor, loadEnvironmentTable, PINNED_TABLE } from '../../benchmarks/eval/environments.js';
import { assetPath } from '../../core/paths.js';
import { environmentDockerfile, parseEnvironmentSpec } from '../../sandbox/index.js';

const script = assetPath('scripts/pinned-env-table.py');

describe('the pinned-pip environment table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-pinned-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'is written from the official specs: pip pins, requirements read at the ' +
      'environment_setup_commit (-r followed, comments cut), conda lists and departures in notes',
    () => {
      // Constants in the official file's shape (plain Python data).
      const constants = join(dir, 'python.py');
      writeFileSync(
        constants,
        [
          'MAP_REPO_VERSION_TO_SPECS_PY = {',
          '  "acme/calc": {"1.0": {"python": "3.9", "packages": "requirements.txt", "pip_packages": ' +
            '["tinydep==2.0"], "install": "python -m pip install -e ."}},',
          '  "acme/sym": {"2.0": {"python": "3.11", "packages": "mpmath flake8", "pip_packages": ' +
            '["mpmath==1.3.0", "Jinja2==3.0.3"], "pre_install": ["sed -i ' +
            "'s/Jinja2>=2.3/Jinja2<3.0/' setup.py\", \"sed -i \\\"s/'packaging',/'packaging', 'markupsafe<=2.0.1',/\\\" setup.py\"]}},",
          '  "acme/conda": {"3.0": {"python": "3.10", "packages": "environment.yml", "pip_packages": ["numpy==1.23.0", "git+https://example.org/x.git"]}},',
          '}',
          'MAP_REPO_TO_REQS_PATHS = {"acme/calc": ["requirements/missing.txt", "requirements/test.txt"]}',
          'MAP_REPO_TO_ENV_YML_PATHS = {"acme/conda": ["ci/environment.yml"]}',
          '',
        ].join('\n'),
      );
      const repo = join(dir, 'repos', 'acme', 'calc');
      mkdirSync(join(repo, 'requirements'), { recursive: true });
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, encoding: 'utf8' });
      git('init', '-q');
      writeFileSync(
        join(repo, 'requirements', 'test.txt'),
        '-r base.txt\n-e .\n# a comment\npytest==7.1.2  # pinned for the ' +
          'plugin\ntinydep==1.0\nmarked>=1; python_version < "3.8"\nnewer>=2; python_version >= "3.8"\ntypes-pkg_resources==0.1.3\n',
      );
      writeFileSync(join(repo, 'requirements', 'base.txt'), 'click==8.0.1\n');
      git('add', '-A');
      git('commit', '-qm', 'setup');
      const setup = git('rev-parse', 'HEAD').trim();
      const condaRepo = join(dir, 'repos', 'acme', 'conda');
      mkdirSync(join(condaRepo, 'ci'), { recursive: true });
      const condaGit = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
          cwd: condaRepo,
          encoding: 'utf8',
        });
      condaGit('init', '-q');
      writeFileSync(
        join(condaRepo, 'ci', 'environment.yml'),
        'name: t\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.10\n  - bottleneck\n  - ' +
          'hdf5\n  - scipy=1.11  # pinned by conda\n  - pip\n  - pip:\n    - numbagg\n',
      );
      condaGit('add', '-A');
      condaGit('commit', '-qm', 'env');
      const condaSetup = condaGit('rev-parse', 'HEAD').trim();
      const dataset = join(dir, 'rows.jsonl');
      writeFileSync(
        dataset,
        `${JSON.stringify({ repo: 'acme/calc', version: '1.0', environment_setup_commit: setup })}` +
          `\n${JSON.stringify({ repo: 'acme/conda', version: '3.0', environment_setup_commit: condaSetup })}\n`,
      );
      const hasPackaging = (() => {
        try {
          execFileSync('python3', ['-c', 'import packaging.markers']);
          return true;
        } catch {
          return false;
        }
      })();
      const table = join(dir, 'table.json');
      writeFileSync(
        table,
        JSON.stringify({
          default: { env: null, test_cmd: ['python3', '-m', 'pytest', '-rA'], parser: 'pytest', pythonpath: ['.'] },
          repos: {
            'acme/calc': {
              versions: {
                '1.0': { env: { base: 'fixwright-sandbox:bullseye', apt: ['python3-click'] } },
                '1.1': { env: null },
              },
            },
            'acme/sym': { versions: { '2.0': {} } },
            'acme/conda': { versions: { '3.0': { env: { apt: ['python3-numpy'] } } } },
          },
        }),
      );
      const out = join(dir, 'pinned.json');
      writeFileSync(
        out,
        execFileSync(
          'python3',
          [script, '--constants', constants, '--table', table, '--dataset', dataset, '--repos', join(dir, 'repos')],
          { encoding: 'utf8' },
        ),
      );
      const pinned = loadEnvironmentTable(out);
      const calc = environmentFor(pinned, 'acme/calc', '1.0');
      // Install order as the official harness: the requirements file, then pip_packages (which win); a
      // yanked package swapped as the official harness swaps it; markers decided for the image's Python.
      const marked = hasPackaging ? ['newer>=2'] : [];
      expect(calc).toMatchObject({
        supported: true,
        env: {
          base: 'fixwright-sandbox:bullseye',
          apt: ['python3-click'],
          pip: ['click==8.0.1', 'pytest==7.1.2', ...marked, 'types-setuptools', 'tinydep==2.0'],
          allow_source_builds: true,
        },
      });
      const calcNotes = calc.supported ? calc.notes.join('\n') : '';
      expect(calcNotes).toMatch(new RegExp(`requirements from requirements/test.txt at ${setup.slice(0, 12)}`));
      expect(calcNotes).toMatch(
        hasPackaging
          ? /not for Python 3\.9 \(their markers\): marked>=1; python_version < "3\.8"/
          : /left out .*marked>=1; python_version/,
      );
      expect(calcNotes).toMatch(/the official install step \(`python -m pip install -e \.`\) is not run/);
      expect(environmentFor(pinned, 'acme/calc', '1.1')).toMatchObject({
        supported: true,
        notes: [expect.stringMatching(/has no spec for acme\/calc 1\.1/)],
      });
      // pre_install's setup.py edits (a cap replacing a requirement, a requirement added beside another) are installed last.
      expect(environmentFor(pinned, 'acme/sym', '2.0')).toMatchObject({
        env: { pip: ['flake8', 'mpmath==1.3.0', 'Jinja2<3.0', 'markupsafe<=2.0.1'] },
        notes: [
          expect.stringMatching(/conda packages \(mpmath flake8\) installed with pip instead/),
          expect.stringMatching(/pre_install writes into setup\.py, installed last: Jinja2<3\.0, markupsafe<=2\.0\.1/),
          expect.stringMatching(/pre_install steps are not run/),
        ],
      });
      // environment.yml read at the setup commit: its pip section, its conda packages unpinned, conda-only ones named.
      const conda = environmentFor(pinned, 'acme/conda', '3.0');
      expect(conda).toMatchObject({ env: { pip: ['bottleneck', 'scipy', 'numbagg', 'numpy==1.23.0'] } });
      expect(conda.supported && conda.notes.join('\n')).toMatch(
        new RegExp(
          `conda environment\\.yml ` +
            `at ${condaSetup.slice(0, 12)}.*conda-only, left out: python, hdf5, pip[\\s\\S]*left out ` +
            `.*git\\+https[\\s\\S]*official Python 3\\.10; this image has Python 3\\.11`,
        ),
      );
      for (const version of ['1.0', '1.1']) {
        const env = environmentFor(pinned, 'acme/calc', version);
        if (env.supported && env.env !== null)
          expect(() => environmentDockerfile(parseEnvironmentSpec(env.env))).not.toThrow();
      }
    },
  );

  it('the shipped pinned table covers every entry of the shipped table, each a valid spec, with the official pins and its departures noted', () => {
    const shipped = loadEnvironmentTable();
    const pinned = loadEnvironmentTable(assetPath(PINNED_TABLE));
    for (const [repo, entry] of Object.entries(shipped.repos)) {
      expect(Object.keys(pinned.repos[repo]?.versions ?? {}), repo).toEqual(Object.keys(entry.versions));
      for (const version of Object.keys(entry.versions)) {
        const env = environmentFor(pinned, repo, version);
        if (!env.supported) throw new Error(`${repo}@${version}: ${env.reason}`);
        if (env.env !== null)
          expect(() => environmentDockerfile(parseEnvironmentSpec(env.env)), `${repo}@${version}`).not.toThrow();
      }
    }
    expect(environmentFor(pinned, 'pytest-dev/pytest', '4.4')).toMatchObject({
      env: { pip: expect.arrayContaining(['pluggy==0.13.1']) },
    });
    expect(environmentFor(pinned, 'pydata/xarray', '0.12')).toMatchObject({
      notes: expect.arrayContaining([expect.stringMatching(/conda environment\.yml/)]),
    });
    // pylint's pinned astroid (from requirements_test_min.txt at the environment_setup_commit), which Debian cannot give.
    expect(environmentFor(pinned, 'pylint-dev/pylint', '2.15')).toMatchObject({
      env: { pip: expect.arrayContaining([expect.stringMatching(/^astroid==2\.12\./)]) },
    });
  });
});
