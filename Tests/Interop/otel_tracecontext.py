"""Both directions of the Python reference SDK's OpenTelemetry middleware
(`arcp.middleware.otel.with_tracing`, agentruntimecontrolprotocol 1.1.3) for
Tests/ARCPTracingTests (`TraceContextExtensionTests.pythonMiddlewareInterop`).

Usage: python otel_tracecontext.py TRACE_ID SPAN_ID TRACESTATE FRAME

- Sends a `job.submit` envelope through the middleware inside a span with TRACE_ID,
  SPAN_ID (sampled) and TRACESTATE: the middleware adds the extension
  `x-vendor.opentelemetry.tracecontext` as it would on the wire.
- Receives FRAME (a Swift client's `job.submit`, JSON) through the middleware and reports
  the parent context the middleware extracted from its extension.

Prints one JSON object: {"sent": <envelope>, "received": {trace_id, span_id, sampled,
tracestate}} ("received" is null when nothing was extracted). Needs only opentelemetry-api,
a dependency of the SDK: a recording tracer stands in for the OpenTelemetry SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from arcp.middleware.otel import with_tracing


class Pipe:
    """A Transport: `recv` returns the given frames, `send` keeps what is sent."""

    def __init__(self, inbound: list[dict[str, Any]]) -> None:
        self.inbound = list(inbound)
        self.sent: list[dict[str, Any]] = []

    async def send(self, envelope: dict[str, Any]) -> None:
        self.sent.append(envelope)

    async def recv(self) -> dict[str, Any]:
        return self.inbound.pop(0)

    async def close(self) -> None:
        pass

    @property
    def is_closed(self) -> bool:
        return False


class RecordingTracer:
    """Records the parent context each middleware span starts in; its spans carry their
    parent's span context (as the API's no-op tracer does), so injection sends the caller's."""

    def __init__(self) -> None:
        self.parents: list[Any] = []

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, context: Any = None, kind: Any = None, **_: Any):
        self.parents.append(context)
        parent = trace.get_current_span(context).get_span_context()
        with trace.use_span(NonRecordingSpan(parent), end_on_exit=False) as span:
            yield span


async def main() -> None:
    trace_id, span_id, tracestate, frame = sys.argv[1:5]
    swift_frame = json.loads(frame)
    pipe = Pipe([swift_frame])
    tracer = RecordingTracer()
    transport = with_tracing(pipe, tracer=tracer)  # type: ignore[arg-type]

    caller = SpanContext(
        trace_id=int(trace_id, 16), span_id=int(span_id, 16), is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=TraceState.from_header([tracestate]),
    )
    with trace.use_span(NonRecordingSpan(caller), end_on_exit=False):
        await transport.send({
            "arcp": "1.1", "id": "01M8876EHT5B073GW4QSV86791", "type": "job.submit",
            "session_id": "sess_01M8876EHSBKH0W37TH3ZBXCG2", "trace_id": trace_id,
            "payload": {"agent": "probe", "input": {}},
        })

    await transport.recv()
    extracted = tracer.parents[-1]
    received = None
    if extracted is not None:
        sc = trace.get_current_span(extracted).get_span_context()
        if sc.is_valid:
            received = {
                "trace_id": format(sc.trace_id, "032x"), "span_id": format(sc.span_id, "016x"),
                "sampled": sc.trace_flags.sampled, "tracestate": sc.trace_state.to_header(),
            }
    print(json.dumps({"sent": pipe.sent[0], "received": received}))


asyncio.run(main())
