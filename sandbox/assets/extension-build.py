"""fixwright's extension-build helper: runs inside a sandbox, never on the host, passed whole on the
command line (`python3 -I -S -c SCRIPT MODE`, from /), so no file of it lies where sandbox code could
change it, and nothing of the checkout is on its path.

  snapshot   before the build: every regular file of /work (size, mtime) as JSON on stdout
  pack       after the build, the snapshot on stdin: the files the build made or changed, as a
             gzipped tar on stdout (regular files only, opened without following any link); the
             host checks the tar and writes it again
  check      in a test's sandbox after its patches, the manifest on stdin:
             inputs changed since the cached build are touched (so an incremental build_ext redoes
             them); a changed header or setup file removes every output (a full rebuild). Prints JSON.

The manifest (patterns, the inputs' git blob ids, the outputs) is made on the host, never here.
Written for every Python 3 the base images have (3.9 and 3.11).
"""
import fnmatch
import gzip
import hashlib
import json
import os
import stat
import sys
import tarfile

ROOT = '/work'
SKIP_DIRS = {'.git', '__pycache__', '.pytest_cache', '.eggs', '.tox', '.hypothesis', '.mypy_cache'}
# Kept out of the outputs: byte code and objects (build_ext --inplace does not need build/ again).
SKIP_SUFFIXES = ('.pyc', '.pyo', '.o')
# A changed file of these kinds is recompiled by an incremental build; anything else (headers,
# .pxd, setup files, templates) may feed several extensions, so everything is rebuilt.
DIRECT_SOURCES = ('.c', '.cc', '.cpp', '.cxx', '.pyx')


def matches(path, patterns):
    # The host's inputMatcher has the same rules; patterns hold no [ or ] (refused by the schema).
    base = path.rsplit('/', 1)[-1]
    for p in patterns:
        if p.endswith('/'):
            if '/' in p[:-1]:
                if path.startswith(p):
                    return True
            elif path.startswith(p) or ('/' + p) in path:
                return True
        elif '/' in p:
            if fnmatch.fnmatchcase(path, p):
                return True
        elif fnmatch.fnmatchcase(base, p):
            return True
    return False


def fail(err):
    raise err


def walk():
    # A directory that cannot be read is an error, never a silently empty listing.
    for dirpath, dirs, files in os.walk(ROOT, onerror=fail):
        rel = os.path.relpath(dirpath, ROOT)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not (rel == '.' and d == 'build'))
        for name in sorted(files):
            path = name if rel == '.' else rel + '/' + name
            st = os.lstat(os.path.join(ROOT, path))
            if stat.S_ISREG(st.st_mode):
                yield path, st


def open_nofollow(path):
    """Opens /work/PATH for reading with no link followed on the way (a build left running could swap one in)."""
    fd = os.open(ROOT, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parts = path.split('/')
        for part in parts[:-1]:
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
        ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)
    st = os.fstat(ffd)
    if not stat.S_ISREG(st.st_mode):
        os.close(ffd)
        return None, st
    return os.fdopen(ffd, 'rb'), st


def blob_id(path):
    """The file's git blob id (what the host keys and the manifest compare on)."""
    with open(os.path.join(ROOT, path), 'rb') as f:
        data = f.read()
    return hashlib.sha1(b'blob %d\0' % len(data) + data).hexdigest()


def snapshot():
    json.dump({p: [st.st_size, st.st_mtime_ns] for p, st in walk()}, sys.stdout)


def pack():
    before = json.load(sys.stdin)
    outputs = [p for p, st in walk() if not p.endswith(SKIP_SUFFIXES) and before.get(p) != [st.st_size, st.st_mtime_ns]]
    with gzip.GzipFile(fileobj=sys.stdout.buffer, mode='wb', compresslevel=3, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode='w|', format=tarfile.PAX_FORMAT) as tar:
            for p in outputs:
                f, st = open_nofollow(p)
                if f is None:
                    continue
                with f:
                    info = tarfile.TarInfo(p)
                    info.size = st.st_size
                    info.mtime = st.st_mtime
                    info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                    tar.addfile(info, f)


def check():
    manifest = json.load(sys.stdin)
    patterns, inputs, outputs = manifest['patterns'], manifest['inputs'], set(manifest['outputs'])
    # The inputs are the patterns' files and the files the build was seen to read.
    current = [p for p, _ in walk() if (matches(p, patterns) or p in inputs) and p not in outputs]
    changed = [p for p in current if inputs.get(p) != blob_id(p)]
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
        snapshot()
    elif mode == 'pack':
        pack()
    elif mode == 'check':
        check()
    else:
        sys.exit('usage: extension-build.py snapshot | pack | check')
