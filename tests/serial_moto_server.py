"""moto's server with one request at a time: `python tests/serial_moto_server.py HOST PORT`.

moto's in-memory backends are not thread-safe, and Terraform sends up to 10 requests at once. Under
`moto_server` (a threaded werkzeug server) two concurrent RevokeSecurityGroupEgress calls on one group
each rewrite the group's rule list from a stale copy, so a rule comes back or a later delete reports
InvalidPermission.NotFound: a flaky destroy that says nothing about our Terraform. One lock around
moto's WSGI app serializes the backends; connections are still served in parallel.
"""

from __future__ import annotations

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

BACKENDS = DomainDispatcherApplication(create_backend_app)
LOCK = threading.Lock()


def serialized(environ, start_response):
    with LOCK:
        return list(BACKENDS(environ, start_response))  # the whole body, built under the lock


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, serialized, threaded=True)
