import { describe, expect, it } from 'vitest';
import { issueTitle, withoutEnvironmentReport } from '../../../localisation/issue-text.js';

const SHOW_VERSIONS = `to_unstacked_dataset broken for single-dim variables

\`\`\`python
data = xr.Dataset({"a": arr, "b": arr})
unstacked = stacked.to_unstacked_dataset('y')
\`\`\`

<details><summary>Output of <tt>xr.show_versions()</tt></summary>

INSTALLED VERSIONS
------------------
commit: None
python-bits: 64
OS: Linux
LANG: en_GB.UTF-8
libhdf5: 1.10.4
libnetcdf: 4.6.2

xarray: 0.15.1
pandas: 1.0.3
netCDF4: 1.4.2
pydap: None
h5netcdf: None
</details>`;

const REQUESTS_HELP = `Getting http://.example.com raises UnicodeError

## System Information

\`\`\`
{
  "chardet": {
    "version": "3.0.4"
  },
  "idna": {
    "version": "2.8"
  },
  "implementation": {
    "name": "CPython",
    "version": "3.8.0"
  },
  "platform": {
    "release": "5.3.0-40-generic",
    "system": "Linux"
  },
  "requests": {
    "version": "2.23.0"
  },
  "urllib3": {
    "version": "1.25.8"
  },
  "using_pyopenssl": true
}
\`\`\``;

describe('withoutEnvironmentReport', () => {
  it('cuts a show_versions() report and keeps the bug and its code', () => {
    const out = withoutEnvironmentReport(SHOW_VERSIONS);
    expect(out).toContain("unstacked = stacked.to_unstacked_dataset('y')");
    expect(out).toContain('data = xr.Dataset({"a": arr, "b": arr})');
    for (const gone of ['libnetcdf', 'netCDF4', 'h5netcdf', 'pydap', 'python-bits', 'LANG'])
      expect(out).not.toContain(gone);
  });

  it('cuts a JSON report such as python -m requests.help', () => {
    const out = withoutEnvironmentReport(REQUESTS_HELP);
    expect(out).toContain('raises UnicodeError');
    for (const gone of ['chardet', 'idna', 'urllib3', 'using_pyopenssl']) expect(out).not.toContain(gone);
  });

  it('drops lines of package pins but keeps pins and comparisons in prose and code', () => {
    const out = withoutEnvironmentReport(
      'py37 installed: attrs==19.3.0,pluggy==0.13.0,pytest==5.2.2\nrequests==2.27.0\nassert arr.dtype==object and x==1',
    );
    expect(out).not.toMatch(/attrs|pluggy|requests/);
    expect(out).toContain('arr.dtype==object and x==1');
    for (const kept of [
      'assert result.dtype.itemsize==8.0',
      '>>> x==1.5',
      'if sys.version_info==3.8.0: pass',
      'With `pytest==5.4.1`, the test was skipped',
    ]) {
      expect(withoutEnvironmentReport(kept)).toBe(kept);
    }
  });

  it('ends a report at a blank line, so the error after it stays', () => {
    const out = withoutEnvironmentReport(
      'numpy: 1.19.2\nscipy: 1.5.2\nmatplotlib: 3.3.4\npandas: 1.1.3\npython: 3.8.5\n\nValueError: ' +
        'could not convert string to float\nExpected: to work\nActual: crash in Axes.bar',
    );
    expect(out).not.toContain('scipy');
    for (const kept of ['ValueError: could not convert', 'Expected: to work', 'Actual: crash in Axes.bar'])
      expect(out).toContain(kept);
  });

  it('keeps short key-value snippets, configs with versions and dict literals that belong to the bug', () => {
    const config =
      'Setting these options breaks it:\n\ntimeout: 1.5\nretries: 3\nbackoff: 0.5\nverify: None\nproxy: http://localhost:8080';
    expect(withoutEnvironmentReport(config)).toBe(config);
    const dict =
      'params = {\n  "lr": 0.1,\n  "momentum": 0.9,\n  "decay": 0.0001,\n  "nesterov": True,\n  "steps": 100,\n}';
    expect(withoutEnvironmentReport(dict)).toBe(dict);
    const precommit =
      'repos:\n-   repo: https://github.com/PyCQA/pylint\n    rev: v2.12.2\n    hooks:\n    -   id: pylint\n-   repo: https://github.com/psf/black\n    rev: 22.1.0\n-   repo: https://github.com/pycqa/isort\n    rev: 5.10.1';
    expect(withoutEnvironmentReport(precommit)).toBe(precommit);
    const versions =
      'Config:\nmin_version: 1.0.0\nmax_version: 2.0.0\ncurrent: 1.14.dev0\npackage: astropy\noption: None';
    expect(withoutEnvironmentReport(versions)).toBe(versions);
    const yaml = 'model:\n  name: foo\n  weights: None\n  bias: None\n  init: None\n  scale: 1.0.0';
    expect(withoutEnvironmentReport(yaml)).toBe(yaml);
  });

  it('reads CRLF text', () => {
    expect(
      withoutEnvironmentReport(
        'Bug in foo\r\nnumpy: 1.19.2\r\nscipy: 1.5.2\r\nmatplotlib: 3.3.4\r\npandas: 1.1.3\r\npython: 3.8.5\r\nbar',
      ),
    ).toBe('Bug in foo\r\nbar');
  });

  it('takes time linear in the text (no backtracking blow-up on long tokens, lines or blank runs)', () => {
    // The first version's pin pattern took 67 s on 200,000 characters of `a.a.a.`; each of these is
    // milliseconds when linear, so a bound of seconds only catches a return of the blow-up.
    const inputs = [
      'a.'.repeat(100_000),
      `${'a.'.repeat(100_000)}==1.0.0`,
      'a-'.repeat(100_000),
      `a:${' '.repeat(200_000)}"x`,
      `a: b (${'x'.repeat(200_000)}`,
      `numpy: 1.1.1\n${'\n'.repeat(100_000)}numpy: 1.1.1`,
      Array.from({ length: 50_000 }, (_, i) => `key${i}: 1.2.${i}`).join('\n'),
    ];
    for (const input of inputs) {
      const started = performance.now();
      withoutEnvironmentReport(input);
      expect(performance.now() - started).toBeLessThan(3000);
    }
  });

  it('leaves an issue without a report as written', () => {
    const text =
      'Crash in `Session.request` when `timeout` is a tuple:\n\nTraceback (most recent call last):\n ' +
      ' File "requests/sessions.py", line 10, in request\nValueError: bad timeout';
    expect(withoutEnvironmentReport(text)).toBe(text);
  });
});

describe('issueTitle', () => {
  it('is the first non-blank line without markdown markers, at most 300 characters', () => {
    expect(issueTitle('`--recursive=y` ignores `ignore-paths`\n### Bug description\nbody')).toBe(
      '`--recursive=y` ignores `ignore-paths`',
    );
    expect(issueTitle('\n\n  ### Linting fails if module contains module of the same name  \n\nbody')).toBe(
      'Linting fails if module contains module of the same name',
    );
    expect(issueTitle('> quoted - title\r\nrest')).toBe('quoted - title');
    expect(issueTitle('- [x] done item\nrest')).toBe('[x] done item');
    expect(issueTitle('x'.repeat(1000))).toHaveLength(300);
    expect(issueTitle('')).toBe('');
    expect(issueTitle('\n   \n#\n')).toBe('#');
  });
});
