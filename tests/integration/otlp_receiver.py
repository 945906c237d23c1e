"""A small OTLP/HTTP receiver on 127.0.0.1 that decodes what an exporter sends (protobuf).

It accepts ``POST /v1/traces`` and ``POST /v1/metrics`` (``application/x-protobuf``, optionally
gzip), decodes them with ``opentelemetry-proto`` into ``ExportTraceServiceRequest`` /
``ExportMetricsServiceRequest`` and keeps them, so a test can check what really went over the
wire: span names, kinds, parent ids, attributes with their wire types. Bodies are bounded (a
larger one is refused with 413) like everything routerlib reads from a network.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

MAX_BODY = 8 * 1024 * 1024


class Receiver:
    """What arrived: decoded trace and metric export requests, in order."""

    def __init__(self, port: int) -> None:
        self.endpoint = f"http://127.0.0.1:{port}"
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.refused = 0
        self.lock = threading.Lock()

    def spans(self) -> list[Any]:
        with self.lock:
            return [span for request in self.traces for resource in request.resource_spans
                    for scope in resource.scope_spans for span in scope.spans]

    def scopes(self) -> list[Any]:
        with self.lock:
            return [scope.scope for request in self.traces for resource in request.resource_spans
                    for scope in resource.scope_spans]

    def metric(self, name: str) -> list[Any]:
        with self.lock:
            return [metric for request in self.metrics for resource in request.resource_metrics
                    for scope in resource.scope_metrics for metric in scope.metrics if metric.name == name]

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.spans()) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.spans()


def attributes(item: Any) -> dict[str, Any]:
    """A protobuf span's (or data point's) attributes as Python values."""
    return {kv.key: value(kv.value) for kv in item.attributes}


def value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return tuple(value(v) for v in any_value.array_value.values)
    return getattr(any_value, kind) if kind else None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self.server.receiver.refused += 1
            self.send_response(413)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        body = self.rfile.read(length)
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/traces":
            trace_request = ExportTraceServiceRequest.FromString(body)
            with self.server.receiver.lock:
                self.server.receiver.traces.append(trace_request)
            answer = ExportTraceServiceResponse().SerializeToString()
        elif self.path == "/v1/metrics":
            metrics_request = ExportMetricsServiceRequest.FromString(body)
            with self.server.receiver.lock:
                self.server.receiver.metrics.append(metrics_request)
            answer = ExportMetricsServiceResponse().SerializeToString()
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = Receiver(self.server_address[1])


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
