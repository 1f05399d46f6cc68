"""Runs pytest (arguments as given) with httpbin served on loopback inside the sandbox.

The sandbox has no network, and old requests test suites talk to httpbin at HTTPBIN_URL
(default http://httpbin.org/): this serves Debian's httpbin on 127.0.0.1 and points them there.
Tests that need other outside hosts still fail; the report says which.
"""
import os
import sys
import threading

from werkzeug.serving import make_server

import httpbin

server = make_server("127.0.0.1", 0, httpbin.app, threaded=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
os.environ["HTTPBIN_URL"] = "http://127.0.0.1:%d/" % server.server_port

import pytest  # noqa: E402  (after the environment is set, as the tests read it at import)

sys.exit(pytest.main(sys.argv[1:]))
