"""fixwright's quick-fix analysis server: runs inside the locked-down analysis container.

Reads one JSON request per line on stdin ({"id": N, "code": "..."}) and answers one JSON line per
request on stdout ({"id": N, "ok": true, "diagnostics": [...]}). Snippets are only parsed and
checked by pyflakes (compile to an AST, walk it); nothing in them is ever executed.
"""
import json
import sys

try:
    import pyflakes
    import pyflakes.api
    import pyflakes.reporter
except Exception as err:  # the image predates python3-pyflakes
    sys.stdout.write(json.dumps({"ready": False, "error": "pyflakes is not installed in the sandbox image (%s)" % err}) + "\n")
    sys.stdout.flush()
    sys.exit(3)


class Collector(pyflakes.reporter.Reporter):
    """Keeps pyflakes' findings as structured records instead of printing them."""

    def __init__(self):
        self.found = []

    def unexpectedError(self, filename, msg):
        self.found.append({"line": 1, "col": 0, "kind": "Error", "message": str(msg), "args": []})

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.found.append({"line": int(lineno or 1), "col": int(offset or 0), "kind": "SyntaxError", "message": str(msg), "args": []})

    def flake(self, message):
        args = [a if isinstance(a, (str, int)) else str(a) for a in getattr(message, "message_args", ())]
        self.found.append({
            "line": int(message.lineno),
            "col": int(getattr(message, "col", 0) or 0),
            "kind": type(message).__name__,
            "message": message.message % tuple(message.message_args),
            "args": args,
        })


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    sys.setrecursionlimit(5000)
    answer({"ready": True, "pyflakes": pyflakes.__version__, "python": sys.version.split()[0]})
    for line in sys.stdin:
        if not line.strip():
            continue
        rid = None
        try:
            request = json.loads(line)
            rid = request.get("id")
            code = request["code"]
            collector = Collector()
            pyflakes.api.check(code, "snippet.py", collector)
            collector.found.sort(key=lambda d: (d["line"], d["col"]))
            answer({"id": rid, "ok": True, "diagnostics": collector.found})
        except (RecursionError, MemoryError) as err:
            answer({"id": rid, "ok": False, "error": "the snippet is too deeply nested or too large to analyse (%s)" % type(err).__name__})
        except Exception as err:
            answer({"id": rid, "ok": False, "error": "%s: %s" % (type(err).__name__, err)})


main()
