"""fixwright's record of what an extension build reads: put on the build's PYTHONPATH as
sitecustomize, it writes the checkout's files that Python code of the build opens for reading (setup
code importing or reading a module, such as astropy's wcs/setup_package.py reading docstrings.py)
to /tmp/fixwright-reads/, one file per process. What it records is the build's own word: it only
adds inputs to the build's manifest and a variant to its cache key, never removes any.
"""
import os
import sys


def _fixwright_reads():
    out = open('/tmp/fixwright-reads/reads.%d.txt' % os.getpid(), 'a', encoding='utf-8', errors='surrogateescape')
    seen = set()

    def hook(event, args):
        if event != 'open' or not args:
            return
        path = args[0]
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        if flags & (os.O_WRONLY | os.O_RDWR):
            return
        full = os.path.abspath(path)
        if not full.startswith('/work/') or full in seen:
            return
        seen.add(full)
        out.write(full[len('/work/'):] + '\n')
        out.flush()

    sys.addaudithook(hook)


def _next_sitecustomize():
    # This module shadows the image's own sitecustomize (Debian's, or one an environment's recipe
    # wrote): that one runs too, as it would have without this.
    import importlib.util
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        directory = os.path.abspath(entry or '.')
        candidate = os.path.join(directory, 'sitecustomize.py')
        if directory != here and os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location('_fixwright_next_sitecustomize', candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return


try:
    _fixwright_reads()
except Exception:
    pass
_next_sitecustomize()
