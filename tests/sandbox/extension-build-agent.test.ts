import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ScriptedChatRequest,
  type ScriptedServer,
  startScriptedOpenAIServer,
} from '../../core/scripted-openai-server.js';
import { removeRepos } from '../helpers/fixture-repo.js';
import { solveWithScriptedModel } from '../helpers/solve-run.js';

/** A C module whose value setup.py takes from buildconf.py (named in the spec's extra_inputs). */
const REPO = {
  '.fixwright/environment.json': JSON.stringify({
    apt: ['gcc', 'libc6-dev', 'python3-dev', 'python3-setuptools', 'cython3', 'python3-numpy'],
    pythonpath: ['.'],
    build: { command: ['python3', 'setup.py', 'build_ext', '--inplace'], extra_inputs: ['buildconf.py'] },
  }),
  'setup.py': `import buildconf
from setuptools import Extension, setup
setup(name='kp', version='0.1', packages=['kp'], ext_modules=[Extension('kp._k', ['kp/_k.c'], define_macros=[('FACTOR', str(buildconf.FACTOR))])])
`,
  'buildconf.py': '# The factor compiled into kp._k.\nFACTOR = 2\n',
  'kp/__init__.py': 'from kp._k import factor\n',
  'kp/_k.c': `#include <Python.h>
static PyObject *f(PyObject *s, PyObject *a) { return PyLong_FromLong(FACTOR); }
static PyMethodDef m[] = {{"factor", f, METH_NOARGS, ""}, {0}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "_k", 0, -1, m};
PyMODINIT_FUNC PyInit__k(void) { return PyModule_Create(&d); }
`,
  'tests/test_k.py': 'from kp import factor\n\n\ndef test_positive():\n    assert factor() > 0\n',
};
const REPRO =
  '```python\n# tests/test_repro_factor.py\nfrom kp import factor\n\n\ndef test_factor_is_three():\n    assert factor() == 3\n```\n';
const FIX = `${REPRO}\nbuildconf.py\n\`\`\`python\n<<<<<<< SEARCH\nFACTOR = 2\n=======\nFACTOR = 3\n>>>>>>> REPLACE\n\`\`\`\n`;
const KEY = 'sk-test-extension-agent-123456';
const isReproduce = (q: ScriptedChatRequest) =>
  JSON.stringify(q.messages ?? []).includes('Write only the reproduction test now');

describe('solve on a project with an extension build (scripted model over HTTP, real sandboxes)', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    removeRepos();
  });

  it("starts every sandbox from the cached build and builds again where a candidate's patch changed an input", async () => {
    server = await startScriptedOpenAIServer({ respond: (q) => (isReproduce(q) ? REPRO : FIX), apiKey: KEY });
    const { r, out, result, events } = await solveWithScriptedModel(server, REPO, KEY, [
      '--samples',
      '1',
      '--max-attempts',
      '1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // Built once, in a sandbox of its own, and cached where eval keeps builds.
    expect(readdirSync(join(out, 'data', 'extension-builds'))).toHaveLength(1);
    expect(
      events.find((e) => e.type === 'log' && e.data.step === 'baseline' && e.data.level === 'warn'),
    ).toBeUndefined();
    // The reproduction test fails at the base (factor 2) and passes only where the patched
    // buildconf.py was compiled in again, in the candidate's sandbox.
    const tests = events.filter((e) => e.type === 'test_result').map((e) => e.data);
    expect(tests).toHaveLength(1);
    expect(result.status).toBe('resolved');
  }, 600_000);
});
