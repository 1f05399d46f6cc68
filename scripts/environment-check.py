#!/usr/bin/env python3
"""Builds SWE-bench-format rows that check the Django, SymPy and Sphinx environments of
benchmarks/eval/environments.json end to end. They are not benchmark instances: each test patch
adds a probe test to a real test file (FAIL_TO_PASS = the probe, PASS_TO_PASS = real neighbouring
tests) and each "gold" patch adds a comment to a source file, so with `--predictions gold` every
row must resolve.

    scripts/environment-check.py REPOS_DIR rows.jsonl
    npx fixwright eval --dataset rows.jsonl --predictions gold --repos REPOS_DIR --out check/

REPOS_DIR must hold sympy/sympy and sphinx-doc/sphinx (git mirrors: `fetch` them); django/django
is built here from Debian's source archive (3.2.25 and 4.2.28 as two commits) when missing,
because Django's repository is too large to mirror.
"""
import json, os, subprocess, sys, tarfile, tempfile, urllib.request
R = os.path.abspath(sys.argv[1]) if len(sys.argv) == 3 else sys.exit(__doc__)
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
def row(iid, repo, version, commit, test_file, append, f2p, p2p, gold_file):
    src = show(repo, commit, test_file)
    if append.startswith('@before '):
        marker, _, text = append[len('@before '):].partition('\n')
        after = src.replace(marker, text + marker, 1)
    else:
        after = src + append
    g = show(repo, commit, gold_file)
    return dict(instance_id=iid, repo=repo, version=version, base_commit=commit,
        patch=diff(gold_file, g, '# fixwright environment check\n' + g),
        test_patch=diff(test_file, src, after), problem_statement='environment check',
        hints_text='', created_at='2026-11-22', environment_setup_commit=commit,
        FAIL_TO_PASS=json.dumps(f2p), PASS_TO_PASS=json.dumps(p2p))
rows = []
probe_py = '@before def test_structure():\ndef test_fixwright_probe():\n    from sympy import Symbol\n    assert Symbol("x") == Symbol("x")\n\n\n'
for tag, v in [('sympy-1.1.1', '1.1'), ('sympy-1.6', '1.6'), ('sympy-1.12', '1.12')]:
    c = subprocess.run(['git', f'--git-dir={git_dir("sympy/sympy")}', 'rev-parse', tag + '^{commit}'], capture_output=True, text=True).stdout.strip()
    rows.append(row(f'envcheck__sympy-{v}', 'sympy/sympy', v, c, 'sympy/core/tests/test_basic.py', probe_py, ['test_fixwright_probe'], ['test_structure', 'test_equality'], 'sympy/core/basic.py'))
probe_sph = '\n\ndef test_fixwright_probe():\n    from sphinx.util import encode_uri\n    assert encode_uri("https://a/b") == "https://a/b"\n'
for tag, v in [('v3.5.4', '3.5'), ('v4.4.0', '4.4'), ('v5.1.0', '5.1')]:
    c = subprocess.run(['git', f'--git-dir={git_dir("sphinx-doc/sphinx")}', 'rev-parse', tag + '^{commit}'], capture_output=True, text=True).stdout.strip()
    rows.append(row(f'envcheck__sphinx-{v}', 'sphinx-doc/sphinx', v, c, 'tests/test_build_text.py', probe_sph, ['tests/test_build_text.py::test_fixwright_probe'], ['tests/test_build_text.py::test_maxwitdh_with_prefix', 'tests/test_build_text.py::test_lineblock', 'tests/test_build_text.py::test_nonascii_title_line'], 'sphinx/__init__.py'))
probe_dj = '\n\nclass FixwrightProbeTests(SimpleTestCase):\n    def test_probe(self):\n        self.assertEqual(text.slugify("Hello World"), "hello-world")\n'
commits = subprocess.run(['git', f'--git-dir={git_dir("django/django")}', 'log', '--format=%H %s'], capture_output=True, text=True).stdout.split('\n')
for line in filter(None, commits):
    c, subject = line.split(' ', 1)
    v = '.'.join(subject.split('.')[:2])
    cls = 'utils_tests.test_text.FixwrightProbeTests'
    f2p = [f'test_probe ({cls})'] if v != '5.0' else [f'test_probe ({cls}.test_probe)']
    rows.append(row(f'envcheck__django-{v}', 'django/django', v, c, 'tests/utils_tests/test_text.py', probe_dj, f2p, ['test_slugify (utils_tests.test_text.TestUtilsText)', 'test_wrap (utils_tests.test_text.TestUtilsText)'], 'django/utils/text.py'))
with open(sys.argv[2], 'w') as f:
    for r in rows: f.write(json.dumps(r) + '\n')
print(len(rows), 'rows')
