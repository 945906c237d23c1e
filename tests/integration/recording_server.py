"""A loopback HTTP server that records every request and answers with a test's ``responder``.

It stands in for an OpenAI-compatible router or a raw-prompt server (vLLM / TGI / llama.cpp
``/v1/completions``): each POST is recorded as its path, raw body bytes, parsed JSON body and
lower-cased headers, then answered with the ``(status, content type, payload)`` the responder
returns for ``(path, body)``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[str, dict[str, Any]], tuple[int, str, bytes]]


def sse(events: list[dict[str, Any]]) -> bytes:
    """An SSE body: one ``data:`` line per event, then ``data: [DONE]``."""
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


class RecordingServer:
    """A loopback HTTP server that records every request and answers with ``responder``."""

    def __init__(self, responder: Responder) -> None:
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw)
                recorder.requests.append({"path": self.path, "raw": raw, "body": body,
                                          "headers": {k.lower(): v for k, v in self.headers.items()}})
                status, content_type, payload = responder(self.path, body)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
