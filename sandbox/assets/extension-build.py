"""fixwright's extension-build helper: runs inside a sandbox, as the sandbox user, never on the host.

  snapshot PATTERNS_JSON   before the build: remembers every file of /work (size, mtime)
  pack                     after the build: the files the build made or changed, as a gzipped tar on
                           stdout; the build's inputs (files matching the patterns that were there
                           before it) with their sha256 in the manifest
  check                    in a test's sandbox, after its patches: inputs changed since the cached
                           build are touched (so an incremental build_ext redoes them); a changed
                           header or setup file removes every output (a full rebuild). Prints JSON.

Written for every Python 3 the base images have (3.9 and 3.11).
"""
import fnmatch
import gzip
import hashlib
import json
import os
import sys
import tarfile

ROOT = '/work'
STATE = '/tmp/fixwright/build'
SKIP_DIRS = {'.git', '__pycache__', '.pytest_cache', '.eggs', '.tox', '.hypothesis', '.mypy_cache'}
# Kept out of the outputs: byte code and objects (build_ext --inplace does not need build/ again).
SKIP_SUFFIXES = ('.pyc', '.pyo', '.o')
# A changed file of these kinds is recompiled by an incremental build; anything else (headers,
# .pxd, setup files, templates) may feed several extensions, so everything is rebuilt.
DIRECT_SOURCES = ('.c', '.cc', '.cpp', '.cxx', '.pyx')


def matches(path, patterns):
    base = path.rsplit('/', 1)[-1]
    for p in patterns:
        if p.endswith('/'):
            if path.startswith(p):
                return True
        elif '/' in p:
            if fnmatch.fnmatchcase(path, p):
                return True
        elif fnmatch.fnmatchcase(base, p):
            return True
    return False


def walk():
    for dirpath, dirs, files in os.walk(ROOT):
        rel = os.path.relpath(dirpath, ROOT)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not (rel == '.' and d == 'build'))
        for name in sorted(files):
            path = name if rel == '.' else rel + '/' + name
            if os.path.isfile(os.path.join(ROOT, path)) and not os.path.islink(os.path.join(ROOT, path)):
                yield path


def digest(path):
    h = hashlib.sha256()
    with open(os.path.join(ROOT, path), 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def stamp(path):
    st = os.stat(os.path.join(ROOT, path))
    return [st.st_size, st.st_mtime_ns]


def snapshot(patterns):
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, 'before.json'), 'w') as f:
        json.dump({'patterns': patterns, 'files': {p: stamp(p) for p in walk()}}, f)


def pack():
    with open(os.path.join(STATE, 'before.json')) as f:
        before = json.load(f)
    files, patterns = before['files'], before['patterns']
    outputs = [p for p in walk() if not p.endswith(SKIP_SUFFIXES) and (p not in files or files[p] != stamp(p))]
    produced = set(outputs)
    inputs = {p: digest(p) for p in files if matches(p, patterns) and p not in produced and os.path.isfile(os.path.join(ROOT, p))}
    with open(os.path.join(STATE, 'manifest.json'), 'w') as f:
        json.dump({'patterns': patterns, 'inputs': inputs, 'outputs': outputs}, f)
    with gzip.GzipFile(fileobj=sys.stdout.buffer, mode='wb', compresslevel=3, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode='w|') as tar:
            for p in outputs:
                tar.add(os.path.join(ROOT, p), arcname=p, recursive=False)


def check():
    with open(os.path.join(STATE, 'manifest.json')) as f:
        manifest = json.load(f)
    patterns, inputs, outputs = manifest['patterns'], manifest['inputs'], set(manifest['outputs'])
    current = [p for p in walk() if matches(p, patterns) and p not in outputs]
    changed = [p for p in current if inputs.get(p) != digest(p)]
    removed = sorted(set(inputs) - set(current))
    full = bool(removed) or any(not p.endswith(DIRECT_SOURCES) for p in changed)
    if full:
        for p in outputs:
            try:
                os.remove(os.path.join(ROOT, p))
            except OSError:
                pass
    for p in changed:
        # Newer than every output, whatever time the repository copy gave it.
        os.utime(os.path.join(ROOT, p), None)
    print(json.dumps({'rebuild': bool(changed or removed), 'full': full, 'changed': changed[:50], 'removed': removed[:50]}))


if __name__ == '__main__':
    mode = sys.argv[1] if len(sys.argv) > 1 else ''
    if mode == 'snapshot':
        snapshot(json.loads(sys.argv[2]))
    elif mode == 'pack':
        pack()
    elif mode == 'check':
        check()
    else:
        sys.exit('usage: extension-build.py snapshot PATTERNS_JSON | pack | check')
