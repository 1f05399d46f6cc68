"""pytest plugin that fixwright loads inside the sandbox (`-p fixwright_pytest_report`).

It writes one JSON line per event to $FIXWRIGHT_PYTEST_REPORT as it happens, so the outcome of
every test survives a crash or a timeout of the run, and node ids need no parsing from logs.
The variable is removed as soon as the plugin loads, so test code does not find the report's
(random) name in its environment. Code running inside pytest can still lie about results; fixwright
cross-checks the report against pytest's exit status. Compatible with Python 3.6+ and pytest 4+.
"""
import json
import os

_PATH = os.environ.pop("FIXWRIGHT_PYTEST_REPORT", None)
_handle = None


def _write(entry):
    global _handle
    if not _PATH:
        return
    if _handle is None:
        _handle = open(_PATH, "a")
    _handle.write(json.dumps(entry) + "\n")
    _handle.flush()


def _message(report):
    try:
        text = str(report.longrepr)
    except Exception:  # a broken repr must not lose the outcome
        text = "(unprintable failure)"
    return text[-2000:]


def pytest_runtest_logstart(nodeid, location):
    _write({"event": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report):
    entry = {"event": "report", "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome}
    if hasattr(report, "wasxfail"):
        entry["wasxfail"] = True
    if report.failed:
        entry["message"] = _message(report)
    _write(entry)


def pytest_collectreport(report):
    if report.failed:
        _write({"event": "collect_error", "nodeid": report.nodeid, "message": _message(report)})


def pytest_sessionfinish(session, exitstatus):
    _write({"event": "finish", "exitstatus": int(exitstatus)})
