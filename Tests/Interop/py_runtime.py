#!/usr/bin/env python3
"""The Python reference ARCP runtime (`agentruntimecontrolprotocol==1.1.3`, import `arcp`) with the
interop test agents, for "Swift client <-> Python runtime" tests.

Usage:
    py_runtime.py --port 0 [--host 127.0.0.1] [--token TOKEN=PRINCIPAL ...] [--heartbeat-sec 30]
        Serves WebSocket on ws://HOST:PORT/arcp (other paths are closed with 1008). Once bound, the
        FIRST stdout line is exactly `LISTENING ws://127.0.0.1:<port>/arcp` (the real port when
        --port 0). Serves until SIGTERM/SIGINT, or until stdin reaches EOF when stdin is a pipe
        or socket (so a parent that dies takes it down; stdin from /dev/null or a TTY is ignored).
    py_runtime.py --stdio [--token ...] [--heartbeat-sec N]
        Serves ONE session over its own stdin/stdout as NDJSON, through the reference's
        `arcp.StdioTransport` and `ARCPRuntime.accept(transport)`, then exits 0 (1 if the session
        died on an exception, e.g. a line over --max-line-bytes). Only frames go to stdout; logs
        go to stderr. (The streams are built here, not by `StdioTransport.from_std_streams()`,
        whose close() raises NotImplementedError on Python 3.11; see _WritePipeProtocol.)

Default tokens: tok -> me@example.com, tok2 -> other@example.com.
Other flags: --resume-window-sec (600), --chunk-size-cap (1048576), --db PATH (SQLite event log),
--max-line-bytes (stdio only; default 65536, asyncio's default that from_std_streams() uses:
a longer line kills the reference's session with ValueError, not an error frame).

Agents (same names, inputs and results as shared/reference/python-1.1.3/server.py, copied below):
  echo {"any"} -> {"echoed": input}; slow {"seconds":5,"tick":1} -> {"slept": N} (cancellable);
  progress {"steps":5,"delay":0.05} -> {"steps": N}; chunked {"text","chunk_size":8,"binary":false};
  fails {"message":"boom","code":null}; kitchen {} (every event kind); versioned@1.0.0 / @2.0.0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
from typing import Any

from arcp import RuntimeInfo, StdioTransport, error_class_for, serve_websocket
from arcp.runtime import ARCPRuntime, JobContext, SqliteEventLog, StaticBearerVerifier


# --------------------------------------------------------------------------- agents
# Copied from shared/reference/python-1.1.3/server.py (project-shared test agents).
async def echo(input_value: Any, ctx: JobContext) -> Any:
    await ctx.log("info", "echo started")
    return {"echoed": input_value}


async def slow(input_value: Any, ctx: JobContext) -> Any:
    inp = input_value if isinstance(input_value, dict) else {}
    seconds = float(inp.get("seconds", 5))
    tick = float(inp.get("tick", 1))
    await ctx.status("running", f"sleeping {seconds}s")
    elapsed = 0.0
    n = 0
    # asyncio cancellation (job.cancel / max_runtime_sec / lease expiry) raises CancelledError out
    # of sleep(); the SDK then emits job.result cancelled. Emit nothing here, just re-raise.
    while elapsed < seconds:
        step = min(tick, seconds - elapsed)
        await asyncio.sleep(step)
        elapsed += step
        n += 1
        await ctx.log("info", f"tick {n}", {"elapsed": elapsed})
    return {"slept": seconds}


async def progress(input_value: Any, ctx: JobContext) -> Any:
    inp = input_value if isinstance(input_value, dict) else {}
    steps = int(inp.get("steps", 5))
    delay = float(inp.get("delay", 0.05))
    for i in range(steps + 1):
        await ctx.progress(i, total=steps, units="steps", message=f"step {i}/{steps}")
        if i < steps:
            await asyncio.sleep(delay)
    return {"steps": steps}


async def chunked(input_value: Any, ctx: JobContext) -> Any:
    inp = input_value if isinstance(input_value, dict) else {}
    text = str(inp.get("text", "The quick brown fox jumps over the lazy dog."))
    size = max(1, int(inp.get("chunk_size", 8)))
    binary = bool(inp.get("binary", False))
    stream = ctx.stream_result()
    for i in range(0, len(text), size):
        piece = text[i : i + size]
        # bytes -> encoding "base64" on the wire; str -> "utf8"
        await stream.write(piece.encode("utf-8") if binary else piece)
    await stream.close(summary=f"{len(text)} chars in chunks of {size}")
    # After stream.close() the job is already terminal; the runner emits no second job.result.
    return None


async def fails(input_value: Any, ctx: JobContext) -> Any:
    inp = input_value if isinstance(input_value, dict) else {}
    await ctx.log("warn", "about to fail")
    code = inp.get("code")
    message = str(inp.get("message", "boom"))
    if code:
        raise error_class_for(str(code))(message)
    raise RuntimeError(message)


async def kitchen(input_value: Any, ctx: JobContext) -> Any:
    await ctx.log("debug", "kitchen sink", {"k": "v"})
    await ctx.thought("thinking about it")
    await ctx.tool_call({"tool_call_id": "tc_1", "name": "search.web", "arguments": {"q": "arcp"}})
    await ctx.tool_result({"tool_call_id": "tc_1", "output": {"hits": 3}})
    await ctx.status("working", "halfway")
    await ctx.metric({"name": "tokens.in", "value": 42, "unit": "tokens"})
    await ctx.metric({"name": "cost.usd", "value": 0.25, "unit": "USD"})
    await ctx.job.emit_event(
        "artifact_ref",
        {
            "artifact_id": "art_1",
            "media_type": "text/plain",
            "size_bytes": 5,
            "uri": "arcp://artifacts/art_1.txt",
            "summary": "an artifact",
        },
    )
    await ctx.job.emit_event("delegate", {"child_job_id": "job_child", "agent": "echo"})
    await ctx.progress(1, total=1, units="items")
    return {"ok": True, "budget_left": {k: str(v) for k, v in ctx.budget.items()}}


def _versioned(v: str):
    async def agent(input_value: Any, ctx: JobContext) -> Any:
        await ctx.log("info", f"versioned {v}")
        return {"version": v}

    return agent


def build_runtime(args: argparse.Namespace) -> ARCPRuntime:
    tokens: dict[str, str] = {}
    for spec in args.token or ["tok=me@example.com", "tok2=other@example.com"]:
        tok, _, principal = spec.partition("=")
        tokens[tok] = principal or "cli-user"
    runtime = ARCPRuntime(
        runtime=RuntimeInfo(name="arcp-pyref", version="1.1.3"),
        bearer=StaticBearerVerifier(tokens),
        heartbeat_interval_sec=(args.heartbeat_sec or None),
        resume_window_sec=args.resume_window_sec,
        chunk_size_cap=args.chunk_size_cap,
        event_log=SqliteEventLog(args.db) if args.db else None,
    )
    runtime.register_agent("echo", echo)
    runtime.register_agent("slow", slow)
    runtime.register_agent("progress", progress)
    runtime.register_agent("chunked", chunked)
    runtime.register_agent("fails", fails)
    runtime.register_agent("kitchen", kitchen)
    runtime.register_agent_version("versioned", "1.0.0", _versioned("1.0.0"))
    runtime.register_agent_version("versioned", "2.0.0", _versioned("2.0.0"))
    return runtime


# --------------------------------------------------------------------------- serving
def _stdin_is_watchable() -> bool:
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def _wait_stdin_eof() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(65536):
        pass


async def serve_ws(args: argparse.Namespace) -> None:
    runtime = build_runtime(args)
    server = await serve_websocket(runtime.accept, host=args.host, port=args.port, path="/arcp")
    port = server.sockets[0].getsockname()[1]
    print(f"LISTENING ws://{args.host}:{port}/arcp", flush=True)
    logging.getLogger("py_runtime").info("listening on ws://%s:%s/arcp", args.host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiters = [asyncio.create_task(stop.wait())]
    if _stdin_is_watchable():
        waiters.append(asyncio.create_task(_wait_stdin_eof()))
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for w in waiters:
        w.cancel()
    server.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.wait_closed(), 5)
    await runtime.close()


class _WritePipeProtocol(asyncio.streams.FlowControlMixin):
    """Write-pipe protocol whose close can be awaited.

    The reference's `StdioTransport.from_std_streams()` uses a bare `FlowControlMixin`, which has
    no `_get_close_waiter`, so `StreamWriter.wait_closed()` - and with it every
    `StdioTransport.close()` (after session.bye, after a rejected hello) - raises
    NotImplementedError on Python 3.11. This adds the waiter; everything else is unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self._closed_fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)

    def _get_close_waiter(self, stream: asyncio.StreamWriter) -> asyncio.Future[None]:
        return self._closed_fut


async def _std_streams_transport(limit: int) -> StdioTransport:
    """The reference `StdioTransport` on this process's stdin/stdout (see `_WritePipeProtocol`)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    wt, wp = await loop.connect_write_pipe(_WritePipeProtocol, sys.stdout)
    writer = asyncio.StreamWriter(wt, wp, reader=None, loop=loop)
    return StdioTransport(reader=reader, writer=writer)


async def serve_stdio(args: argparse.Namespace) -> int:
    runtime = build_runtime(args)
    transport = await _std_streams_transport(args.max_line_bytes)
    session = asyncio.create_task(runtime.accept(transport))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, session.cancel)
    rc = 0
    try:
        await session
    except asyncio.CancelledError:
        pass
    except BaseException:  # noqa: BLE001 - e.g. a line over the limit escapes the reference's pump
        logging.getLogger("py_runtime").exception("stdio session failed")
        rc = 1
    finally:
        with contextlib.suppress(Exception):
            await transport.close()
        await runtime.close()
    return rc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--port", type=int, help="WebSocket port (0 = ephemeral)")
    mode.add_argument("--stdio", action="store_true", help="serve one session on stdin/stdout (NDJSON)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--token", action="append", help="TOKEN=PRINCIPAL (repeatable)")
    p.add_argument("--db", default=None, help="SQLite event-log path (default: in-memory)")
    p.add_argument("--heartbeat-sec", type=int, default=30, help="0 disables server pings")
    p.add_argument("--resume-window-sec", type=int, default=600)
    p.add_argument("--chunk-size-cap", type=int, default=1024 * 1024)
    p.add_argument("--max-line-bytes", type=int, default=2**16, help="stdio reader line limit")
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="py_runtime: %(message)s")
    try:
        sys.exit(asyncio.run(serve_stdio(args)) if args.stdio else asyncio.run(serve_ws(args)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
