import { describe, expect, it } from 'vitest';
import { withoutEnvironmentReport } from '../../localisation/issue-text.js';

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
    for (const gone of ['libnetcdf', 'netCDF4', 'h5netcdf', 'pydap', 'python-bits', 'LANG']) expect(out).not.toContain(gone);
  });

  it('cuts a JSON report such as python -m requests.help', () => {
    const out = withoutEnvironmentReport(REQUESTS_HELP);
    expect(out).toContain('raises UnicodeError');
    for (const gone of ['chardet', 'idna', 'urllib3', 'using_pyopenssl']) expect(out).not.toContain(gone);
  });

  it('drops package pins but keeps comparisons in code', () => {
    const out = withoutEnvironmentReport('py37 installed: attrs==19.3.0,pluggy==0.13.0,pytest==5.2.2\nassert arr.dtype==object and x==1');
    expect(out).not.toMatch(/attrs|pluggy|pytest/);
    expect(out).toContain('arr.dtype==object and x==1');
  });

  it('keeps short key-value snippets and dict literals that belong to the bug', () => {
    const config = 'Setting these options breaks it:\n\ntimeout: 1.5\nretries: 3\nbackoff: 0.5\nverify: None\nproxy: http://localhost:8080';
    expect(withoutEnvironmentReport(config)).toBe(config);
    const dict = 'params = {\n  "lr": 0.1,\n  "momentum": 0.9,\n  "decay": 0.0001,\n  "nesterov": True,\n  "steps": 100,\n}';
    expect(withoutEnvironmentReport(dict)).toBe(dict);
  });

  it('leaves an issue without a report as written', () => {
    const text = 'Crash in `Session.request` when `timeout` is a tuple:\n\nTraceback (most recent call last):\n  File "requests/sessions.py", line 10, in request\nValueError: bad timeout';
    expect(withoutEnvironmentReport(text)).toBe(text);
  });
});
