"""moto's server, answering an AWS SDK retry with the response it already gave: `python THIS HOST PORT`.

Why: now and then (about one deploy or destroy in four on 2 cores) the provider's SDK loses the
connection after moto has handled a call but before the response arrives, and sends the call again
(same `Amz-Sdk-Invocation-Id`, `Amz-Sdk-Request: attempt=2`; seen in Terraform's debug log and moto's
request recording). moto then runs it twice: a create answers `InvalidPermission.Duplicate`, a delete
`ListenerNotFound`, and the run fails for a reason that is neither ours nor AWS's. Replaying the first
response to the retry is what the SDK asked for. Everything else goes to moto's app unchanged.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

INVOCATION_HEADER = "HTTP_AMZ_SDK_INVOCATION_ID"
REMEMBERED = 2000  # responses kept for replay; a retry follows its first attempt within seconds


class ReplayRetries:
    """WSGI middleware: the response of each SDK invocation, replayed to its later attempts."""

    def __init__(self, app):
        self.app = app
        self.responses: OrderedDict[str, tuple[str, list, bytes]] = OrderedDict()
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        invocation = environ.get(INVOCATION_HEADER)
        if invocation:
            with self.lock:
                done = self.responses.get(invocation)
            if done is not None:
                status, headers, body = done
                start_response(status, headers)
                return [body]
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=list(headers))
            return lambda data: None  # moto returns its body; it does not call write()

        body = b"".join(self.app(environ, capture))  # complete before the first byte is sent
        if invocation and captured["status"].startswith("2"):  # an error is answered afresh
            with self.lock:
                self.responses[invocation] = (captured["status"], captured["headers"], body)
                while len(self.responses) > REMEMBERED:
                    self.responses.popitem(last=False)
        start_response(captured["status"], captured["headers"])
        return [body]


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))  # as moto_server does: moto builds some URLs with it
    run_simple(host, port, ReplayRetries(DomainDispatcherApplication(create_backend_app)), threaded=True)
