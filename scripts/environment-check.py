#!/usr/bin/env python3
"""Builds SWE-bench-format rows that check the Django, SymPy, Sphinx and astropy environments of
benchmarks/eval/environments.json end to end. They are not benchmark instances: each test patch
adds a probe test to a real test file (FAIL_TO_PASS = the probe, PASS_TO_PASS = real neighbouring
tests) and each "gold" patch adds a comment to a source file, so with `--predictions gold` every
row must resolve.

    scripts/environment-check.py REPOS_DIR rows.jsonl [--only REPO_NAME] [--breaking predictions.jsonl]
    npx fixwright eval --dataset rows.jsonl --predictions gold --repos REPOS_DIR --out check/
    npx fixwright eval --dataset rows.jsonl --predictions predictions.jsonl --repos REPOS_DIR --out broken/

astropy's rows (REPOS_DIR/astropy/astropy, a git mirror) sit on the base commits of Lite instances
(astropy-7746 for 1.3, -12907 for 4.3, -14182 for 5.1; the tags v5.1.1 and v5.2.2 where the mirror lacks a blob of
-14365's and -14995's trees), two per commit: one whose gold
patch adds a Python function the probe calls, one whose gold patch adds a function to a Cython
module (so the evaluation builds the extension again after the patch). `--breaking` writes, for the
rows built, predictions that must not resolve (a neighbouring test broken, or the Cython function
giving a wrong answer). `--only astropy` builds only the rows of repositories whose name holds it.

REPOS_DIR must hold sympy/sympy and sphinx-doc/sphinx (git mirrors: `fetch` them); django/django
is built here from Debian's source archive (3.2.25 and 4.2.28 as two commits) when missing,
because Django's repository is too large to mirror.
"""
import json, os, subprocess, sys, tarfile, tempfile, urllib.request
import argparse
_args = argparse.ArgumentParser(usage=__doc__)
_args.add_argument('repos_dir')
_args.add_argument('rows')
_args.add_argument('--only', default='')
_args.add_argument('--breaking')
ARGS = _args.parse_args()
R = os.path.abspath(ARGS.repos_dir)
wanted = lambda name: ARGS.only in name
DJANGO_TARBALLS = ['3.2.25', '4.2.28']


def build_django():
    repo = f'{R}/django/django'
    if os.path.isdir(repo):
        return
    os.makedirs(repo)
    git = lambda *a: subprocess.run(['git', '-C', repo, *a], check=True, capture_output=True)
    git('init', '-q')
    for version in DJANGO_TARBALLS:
        url = f'http://deb.debian.org/debian/pool/main/p/python-django/python-django_{version}.orig.tar.gz'
        with tempfile.TemporaryDirectory() as t:
            path = f'{t}/django.tgz'
            urllib.request.urlretrieve(url, path)
            git('rm', '-rq', '--ignore-unmatch', '.')
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    member.name = member.name.split('/', 1)[1] if '/' in member.name else ''
                    if member.name:
                        tar.extract(member, repo, filter='data')
        git('add', '-A')
        git('-c', 'user.email=check@fixwright', '-c', 'user.name=fixwright', 'commit', '-qm', version)


if wanted('django'):
    build_django()
def show(repo, commit, path):
    return subprocess.run(['git', f'--git-dir={git_dir(repo)}', 'show', f'{commit}:{path}'], capture_output=True, text=True, check=True).stdout
def git_dir(repo):
    d = f'{R}/{repo}'
    return d + '/.git' if os.path.isdir(d + '/.git') else d
def diff(path, before, after):
    import difflib
    body = ''.join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), f'a/{path}', f'b/{path}'))
    return f'diff --git a/{path} b/{path}\n' + body
def row(iid, repo, version, commit, test_file, append, f2p, p2p, gold_file, gold_text=None):
    src = show(repo, commit, test_file)
    if append.startswith('@before '):
        marker, _, text = append[len('@before '):].partition('\n')
        after = src.replace(marker, text + marker, 1)
    else:
        after = src + append
    g = show(repo, commit, gold_file)
    return dict(instance_id=iid, repo=repo, version=version, base_commit=commit,
        patch=diff(gold_file, g, '# fixwright environment check\n' + g if gold_text is None else g + gold_text),
        test_patch=diff(test_file, src, after), problem_statement='environment check',
        hints_text='', created_at='2026-11-22', environment_setup_commit=commit,
        FAIL_TO_PASS=json.dumps(f2p), PASS_TO_PASS=json.dumps(p2p))
rows = []
probe_py = '@before def test_structure():\ndef test_fixwright_probe():\n    from sympy import Symbol\n    assert Symbol("x") == Symbol("x")\n\n\n'
for tag, v in [('sympy-1.1.1', '1.1'), ('sympy-1.6', '1.6'), ('sympy-1.12', '1.12')] if wanted('sympy') else []:
    c = subprocess.run(['git', f'--git-dir={git_dir("sympy/sympy")}', 'rev-parse', tag + '^{commit}'], capture_output=True, text=True).stdout.strip()
    rows.append(row(f'envcheck__sympy-{v}', 'sympy/sympy', v, c, 'sympy/core/tests/test_basic.py', probe_py, ['test_fixwright_probe'], ['test_structure', 'test_equality'], 'sympy/core/basic.py'))
probe_sph = '\n\ndef test_fixwright_probe():\n    from sphinx.util import encode_uri\n    assert encode_uri("https://a/b") == "https://a/b"\n'
for tag, v in [('v3.5.4', '3.5'), ('v4.4.0', '4.4'), ('v5.1.0', '5.1')] if wanted('sphinx') else []:
    c = subprocess.run(['git', f'--git-dir={git_dir("sphinx-doc/sphinx")}', 'rev-parse', tag + '^{commit}'], capture_output=True, text=True).stdout.strip()
    rows.append(row(f'envcheck__sphinx-{v}', 'sphinx-doc/sphinx', v, c, 'tests/test_build_text.py', probe_sph, ['tests/test_build_text.py::test_fixwright_probe'], ['tests/test_build_text.py::test_maxwitdh_with_prefix', 'tests/test_build_text.py::test_lineblock', 'tests/test_build_text.py::test_nonascii_title_line'], 'sphinx/__init__.py'))
probe_dj = '\n\nclass FixwrightProbeTests(SimpleTestCase):\n    def test_probe(self):\n        self.assertEqual(text.slugify("Hello World"), "hello-world")\n'
commits = subprocess.run(['git', f'--git-dir={git_dir("django/django")}', 'log', '--format=%H %s'], capture_output=True, text=True).stdout.split('\n') if wanted('django') else []
for line in filter(None, commits):
    c, subject = line.split(' ', 1)
    v = '.'.join(subject.split('.')[:2])
    cls = 'utils_tests.test_text.FixwrightProbeTests'
    f2p = [f'test_probe ({cls})'] if v != '5.0' else [f'test_probe ({cls}.test_probe)']
    rows.append(row(f'envcheck__django-{v}', 'django/django', v, c, 'tests/utils_tests/test_text.py', probe_dj, f2p, ['test_slugify (utils_tests.test_text.TestUtilsText)', 'test_wrap (utils_tests.test_text.TestUtilsText)'], 'django/utils/text.py'))
# astropy: the base commits of Lite instances, by the version the official dataset gives them
# (astropy-7746 for 1.3, -12907 for 4.3, -14182 for 5.1; -6938's base commit is not in the mirror). The trees of -14365's and -14995's base commits
# (7269fa3e33, b16c7d12cc) need an IERS data blob (astropy/utils/iers/data/eopc04.1962-now) that
# the mirror here lacks, so the release tags v5.1.1 and v5.2.2 stand in for them.
ASTROPY = [('d5bd3f68bb6d5ce3a61bdce9883ee750d1afade5', '1.3'), ('d16bfe05a744909de4b27f5875fe0d4ed41ce607', '4.3'), ('a5917978be39d13cd90b517e1de4e7a539ffaa48', '5.1'),
           ('0c2784cb472bd19459a346ca5d581dd80353c28f', '5.1'), ('32d49b96007639be4a56cf77b56adb4e8016efa8', '5.2')]
probe_sep = "\n\ndef test_fixwright_probe():\n    from astropy.modeling import separable\n    assert separable._fixwright_probe() == 'separable'\n"
gold_sep = "\n\ndef _fixwright_probe():\n    return 'separable'\n"
probe_pyx = "\n\ndef test_fixwright_probe():\n    from astropy.table import _np_utils\n    assert _np_utils.fixwright_probe(3) == 6\n"
gold_pyx = "\n\ndef fixwright_probe(int n):\n    return 2 * n\n"
breaking = []
for c, v in ASTROPY if wanted('astropy') else []:
    sep = row(f'envcheck__astropy-{v}-{c[:7]}-py', 'astropy/astropy', v, c, 'astropy/modeling/tests/test_separable.py', probe_sep,
              ['astropy/modeling/tests/test_separable.py::test_fixwright_probe'],
              [f'astropy/modeling/tests/test_separable.py::{t}' for t in ('test_coord_matrix', 'test_cdot', 'test_cstack')],
              'astropy/modeling/separable.py', gold_sep)
    pyx = row(f'envcheck__astropy-{v}-{c[:7]}-pyx', 'astropy/astropy', v, c, 'astropy/table/tests/test_np_utils.py', probe_pyx,
              ['astropy/table/tests/test_np_utils.py::test_fixwright_probe'], ['astropy/table/tests/test_np_utils.py::test_common_dtype'],
              'astropy/table/_np_utils.pyx', gold_pyx)
    rows += [sep, pyx]
    src = show('astropy/astropy', c, 'astropy/modeling/separable.py')
    # The probe passes, a real neighbouring test (test_cdot) fails: _cdot is replaced at the module's end.
    breaking.append((sep['instance_id'], diff('astropy/modeling/separable.py', src, src + gold_sep + "\n\ndef _cdot(left, right):\n    raise NotImplementedError('broken by the environment check')\n")))
    src = show('astropy/astropy', c, 'astropy/table/_np_utils.pyx')
    # Compiles, and answers wrong: only a rebuilt extension shows it.
    breaking.append((pyx['instance_id'], diff('astropy/table/_np_utils.pyx', src, src + gold_pyx.replace('2 * n', '3 * n'))))
with open(ARGS.rows, 'w') as f:
    for r in rows: f.write(json.dumps(r) + '\n')
print(len(rows), 'rows')
if ARGS.breaking:
    with open(ARGS.breaking, 'w') as f:
        for iid, patch in breaking:
            f.write(json.dumps({'instance_id': iid, 'model_name_or_path': 'environment-check-breaking', 'model_patch': patch}) + '\n')
    print(len(breaking), 'breaking predictions')
