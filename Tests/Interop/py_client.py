#!/usr/bin/env python3
"""Python-client scenario driver: the real reference client (`agentruntimecontrolprotocol==1.1.3`,
import `arcp`) against any ARCP runtime, for "Python client <-> Swift runtime" interop tests.

Usage:
    py_client.py --url ws://127.0.0.1:PORT/arcp [--token tok] SCENARIO
    py_client.py [--token tok] --stdio SCENARIO -- CMD ARGS...
        (spawns CMD as a runtime child speaking NDJSON on its stdin/stdout, through the
         reference's own `arcp.StdioTransport`; one fresh child per session)

Scenarios: echo, all_event_kinds, budget, job_error, cancel, versions, idempotent, bad_token,
           list_jobs, progress, chunked, all (runs every scenario, one line each).

Each scenario prints ONE JSON line on stdout:
    {"scenario": "...", "ok": true, "transport": "ws"|"stdio", "runtime": "name version", ...facts}
and exits 0; on failure the line has "ok": false and "error": "..." and the exit code is 1
(`all` exits 1 if any scenario failed). Usage errors exit 2.

Facts come from two views: what the reference client API returned (`client_*` keys, the thing
under test) and what was on the wire (recorded frames, `wire_*` keys). Where the spec and the
reference differ (reference NOTES.md), both forms pass and the line says which one was seen
(`form: "spec"|"reference"`). A reference-client failure to digest a frame (it validates
payloads with pydantic, and one bad frame kills its read pump) is reported in `client_error`
with the offending frame type, and fails the scenario: that is a real interop break.

The agents are those of shared/reference/python-1.1.3/server.py (and py_runtime.py here).
Diagnostics go to stderr; the child's stderr (stdio mode) is passed through.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

try:
    import arcp
    from arcp import ClientInfo, ListJobsFilter, StdioTransport, WebSocketTransport
    from arcp.client import ARCPClient, JobHandle
except ImportError as _e:  # pragma: no cover - environment problem, reported as a JSON line
    print(json.dumps({"scenario": "setup", "ok": False,
                      "error": f"cannot import the reference package 'arcp': {_e} "
                               "(run Scripts/setup-python.sh and use .venv/bin/python)"}))
    sys.exit(1)

SCENARIO_TIMEOUT_SEC = float(os.environ.get("PY_CLIENT_SCENARIO_TIMEOUT", "30"))
TERMINAL_TIMEOUT_SEC = 10.0
STDIO_LINE_LIMIT = 16 * 1024 * 1024  # asyncio's default (64 KiB) is too small for big frames
EVENT_KINDS = ("log", "thought", "tool_call", "tool_result", "status", "metric",
               "artifact_ref", "delegate", "progress")


class ScenarioFailed(Exception):
    """A check failed; the message says which."""


def log(msg: str) -> None:
    print(f"py_client: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- wire recording
class RecordingTransport:
    """Wraps a reference `Transport`, recording every frame both ways (the wire view)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()

    async def send(self, envelope: dict[str, Any]) -> None:
        self.sent.append(envelope)
        await self.inner.send(envelope)

    async def recv(self) -> dict[str, Any]:
        frame = await self.inner.recv()
        self.received.append(frame)
        async with self._arrived:
            self._arrived.notify_all()
        return frame

    async def close(self) -> None:
        await self.inner.close()

    @property
    def is_closed(self) -> bool:
        return bool(self.inner.is_closed)

    def for_job(self, job_id: str) -> list[dict[str, Any]]:
        return [f for f in self.received if f.get("job_id") == job_id]

    def terminal_for(self, job_id: str) -> dict[str, Any] | None:
        for f in self.for_job(job_id):
            if f.get("type") in ("job.result", "job.error"):
                return f
        return None

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        """Wait until a received frame satisfies `pred` (frames are read by the client's pump)."""
        async def scan() -> dict[str, Any]:
            async with self._arrived:
                while True:
                    for f in self.received:
                        if pred(f):
                            return f
                    await self._arrived.wait()
        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            return None


# --------------------------------------------------------------------------- sessions
class RecordingLogger:
    """structlog-like logger for ARCPClient: keeps the read pump's failure (it never re-raises)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def bind(self, **_: Any) -> RecordingLogger:
        return self

    def exception(self, event: str, **kw: Any) -> None:
        lines = [ln.strip() for ln in str(kw.get("error", "")).splitlines()
                 if ln.strip() and "errors.pydantic.dev" not in ln]
        self.errors.append(f"{event}: {' | '.join(lines)}")
        log(self.errors[-1])

    error = exception

    def warning(self, event: str, **kw: Any) -> None:
        log(f"{event} {kw}")

    def info(self, *_: Any, **__: Any) -> None:
        pass

    debug = info


class Session:
    """One connected reference client plus its recorded transport."""

    def __init__(self, client: ARCPClient, rec: RecordingTransport, mode: str, logger: RecordingLogger) -> None:
        self.client = client
        self.rec = rec
        self.mode = mode
        self.logger = logger
        self.welcome = client.welcome
        self.child_exit: int | None = None

    def pump_failure(self) -> str:
        """Why the reference client's read pump stopped ('' while it runs)."""
        task = self.client._read_task
        if task is None or not task.done():
            return ""
        if self.logger.errors:
            return self.logger.errors[-1]
        return "transport closed by the runtime"


class Runner:
    """Opens sessions over WebSocket (--url) or to a fresh stdio child per session (--stdio)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.url: str | None = args.url
        self.cmd: list[str] = args.cmd
        self.token: str = args.token
        self.mode = "stdio" if self.cmd else "ws"
        self.runtime_label = "?"
        self.child_exits: list[int | None] = []

    async def _open_transport(self) -> tuple[Any, asyncio.subprocess.Process | None]:
        if self.mode == "ws":
            assert self.url is not None
            return await WebSocketTransport.connect(self.url, open_timeout=10), None
        proc = await asyncio.create_subprocess_exec(
            *self.cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=None, limit=STDIO_LINE_LIMIT)
        return await StdioTransport.from_process_pipes(proc), proc

    async def _reap(self, proc: asyncio.subprocess.Process | None) -> int | None:
        if proc is None:
            return None
        try:
            return await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            log(f"stdio child {proc.pid} did not exit 5 s after the session closed; terminating it")
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
            return None  # None = had to be stopped

    @contextlib.asynccontextmanager
    async def session(self, token: str | None = None) -> AsyncIterator[Session]:
        inner, proc = await self._open_transport()
        rec = RecordingTransport(inner)
        logger = RecordingLogger()
        client = ARCPClient(client=ClientInfo(name="swift-arcp-interop-pyclient", version="1.1.3"),
                            token=token if token is not None else self.token, logger=logger)
        s: Session | None = None
        try:
            try:
                await client.connect(rec)
            except (arcp.ARCPError, OSError, arcp.TransportClosed, TimeoutError):
                raise
            except Exception as e:  # e.g. pydantic rejecting the session.welcome
                raise ScenarioFailed(f"reference client rejected the handshake: {_client_error_text(e, rec)}") from e
            s = Session(client, rec, self.mode, logger)
            if client.welcome is not None:
                self.runtime_label = f"{client.welcome.runtime.name} {client.welcome.runtime.version}"
            yield s
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)
            with contextlib.suppress(Exception):
                await rec.close()
            code = await self._reap(proc)
            if proc is not None:
                self.child_exits.append(code)
                if s is not None:
                    s.child_exit = code

    @contextlib.asynccontextmanager
    async def raw(self) -> AsyncIterator[tuple[RecordingTransport, asyncio.subprocess.Process | None]]:
        """A connected transport with no handshake done (for bad_token)."""
        inner, proc = await self._open_transport()
        rec = RecordingTransport(inner)
        try:
            yield rec, proc
        finally:
            with contextlib.suppress(Exception):
                await rec.close()
            code = await self._reap(proc)
            if proc is not None:
                self.child_exits.append(code)


# --------------------------------------------------------------------------- job helpers
async def _await(aw: Awaitable[Any]) -> Any:
    return await aw


def _drain(q: asyncio.Queue[Any]) -> list[Any]:
    out = []
    while True:
        try:
            item = q.get_nowait()
        except asyncio.QueueEmpty:
            return out
        if item is not None:
            out.append(item)


def _client_error_text(e: BaseException, rec: RecordingTransport) -> str:
    last = rec.received[-1] if rec.received else None
    where = f"; last frame received: {json.dumps(last)[:600]}" if last else ""
    first = str(e).splitlines()[0] if str(e) else ""
    detail = " ".join(line.strip() for line in str(e).splitlines()[1:4])
    return f"{type(e).__name__}: {first} {detail}".strip() + where


async def submit(s: Session, agent: str, input: Any = None, **submit_kw: Any) -> JobHandle:
    """client.submit, with a reference-client failure turned into a clear ScenarioFailed."""
    try:
        return await s.client.submit(agent=agent, input=input, **submit_kw)
    except arcp.ARCPError:
        raise
    except TimeoutError as e:
        raise ScenarioFailed(f"no job.accepted for submit({agent}) within "
                             f"{s.client.handshake_timeout_sec}s{'; ' + s.pump_failure() if s.pump_failure() else ''}") from e
    except Exception as e:
        raise ScenarioFailed(f"reference client failed during submit({agent}): "
                             f"{s.pump_failure() or _client_error_text(e, s.rec)}") from e


async def run_job(s: Session, agent: str, input: Any = None, *, timeout: float = TERMINAL_TIMEOUT_SEC,
                  **submit_kw: Any) -> dict[str, Any]:
    """Submit, wait for the terminal through the client API, and gather both views."""
    h = await submit(s, agent, input, **submit_kw)
    return await finish_job(s, h, timeout=timeout)


async def finish_job(s: Session, h: JobHandle, *, timeout: float = TERMINAL_TIMEOUT_SEC) -> dict[str, Any]:
    """Wait for the handle's terminal, or for the client's read pump to die, or the timeout."""
    out: dict[str, Any] = {"job_id": h.job_id, "accepted_agent": h.accepted.agent}
    done_t = asyncio.ensure_future(_await(h.done))
    pump = s.client._read_task
    waiting: set[asyncio.Future[Any]] = {done_t}
    if pump is not None:
        waiting.add(pump)
    await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if not done_t.done() and pump is not None and pump.done():
        await asyncio.wait({done_t}, timeout=0.1)  # a terminal may still be resolving
    if done_t.done():
        try:
            res = done_t.result()
            out["client_terminal"] = "result"
            out["final_status"] = res.final_status
            out["result"] = res.result
            if res.result_id is not None:
                out["result_id"] = res.result_id
                out["result_size"] = res.result_size
            if res.summary is not None:
                out["summary"] = res.summary
        except arcp.ARCPError as e:
            out["client_terminal"] = "error"
            out["error"] = {"code": e.code, "message": e.message, "retryable": e.retryable}
        except Exception as e:  # the reference client's read pump died (e.g. pydantic rejection)
            out["client_terminal"] = "client_error"
            out["client_error"] = s.pump_failure() or _client_error_text(e, s.rec)
    elif pump is not None and pump.done():
        done_t.cancel()
        out["client_terminal"] = "client_error"
        last = s.rec.received[-1] if s.rec.received else None
        out["client_error"] = (f"read pump stopped before this job's terminal: {s.pump_failure()}"
                               + (f"; last frame received: {json.dumps(last)[:600]}" if last else ""))
    else:
        done_t.cancel()
        out["client_terminal"] = "timeout"
    out["events"] = [ev.get("kind") for ev in _drain(h._events)]
    out["_chunks"] = _drain(h._chunks)
    term = s.rec.terminal_for(h.job_id)
    out["wire_terminal"] = None if term is None else {
        "type": term.get("type"), "event_seq": term.get("event_seq"),
        **{k: term.get("payload", {}).get(k) for k in ("final_status", "code") if k in term.get("payload", {})}}
    return out


def wire_events(s: Session, job_id: str) -> list[dict[str, Any]]:
    return [f.get("payload", {}) for f in s.rec.for_job(job_id) if f.get("type") == "job.event"]


def require(cond: bool, msg: str) -> None:
    if not cond:
        raise ScenarioFailed(msg)


def require_no_client_error(job: dict[str, Any]) -> None:
    if job.get("client_terminal") == "client_error":
        raise ScenarioFailed(f"reference client failed to process the runtime's frames: {job['client_error']}")
    if job.get("client_terminal") == "timeout":
        raise ScenarioFailed(f"no terminal for job {job['job_id']} within {TERMINAL_TIMEOUT_SEC}s "
                             f"(wire terminal: {job.get('wire_terminal')})")


def public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def seqs_strictly_increasing(s: Session) -> bool:
    seqs = [f["event_seq"] for f in s.rec.received if isinstance(f.get("event_seq"), int)]
    return all(b > a for a, b in zip(seqs, seqs[1:]))


# --------------------------------------------------------------------------- scenarios
async def sc_echo(r: Runner) -> dict[str, Any]:
    inp = {"hello": "world", "n": 1, "nested": {"list": [1, 2.5, None, True, "é"]}}
    async with r.session() as s:
        w = s.welcome
        job = await run_job(s, "echo", inp)
        require_no_client_error(job)
        facts: dict[str, Any] = {
            **public(job),
            "session_id": s.client.session_id,
            "negotiated_features": list(s.client.negotiated_features),
            "welcome_heartbeat_interval_sec": w.heartbeat_interval_sec if w else None,
            "welcome_agents": [a if isinstance(a, str) else a.name for a in (w.capabilities.agents if w else ())],
            "event_seqs": [f.get("event_seq") for f in s.rec.for_job(job["job_id"]) if "event_seq" in f],
        }
        facts.pop("_chunks", None)
        require(job["client_terminal"] == "result" and job["final_status"] == "success",
                f"echo did not succeed: {job.get('error') or job.get('final_status')}")
        require(job["result"] == {"echoed": inp}, f"echo result {job['result']!r} != {{'echoed': input}}")
        require("log" in job["events"], f"expected a log event, got {job['events']}")
        require(seqs_strictly_increasing(s), "event_seq not strictly increasing")
    return facts


def _tool_call_form(body: dict[str, Any]) -> str:
    if {"call_id", "tool"} <= body.keys():
        return "spec"
    if {"tool_call_id", "name"} <= body.keys():
        return "reference"
    return "unknown:" + ",".join(sorted(body))


def _artifact_form(body: dict[str, Any]) -> str:
    if "content_type" in body:
        return "spec"
    if "media_type" in body:
        return "reference"
    return "unknown:" + ",".join(sorted(body))


async def sc_all_event_kinds(r: Runner) -> dict[str, Any]:
    async with r.session() as s:
        job = await run_job(s, "kitchen", {})
        require_no_client_error(job)
        evs = wire_events(s, job["job_id"])
        by_kind = {e.get("kind"): e.get("body", {}) for e in evs}
        facts = {
            **public(job),
            "kinds_missing": [k for k in EVENT_KINDS if k not in job["events"]],
            "metric_names": [e.get("body", {}).get("name") for e in evs if e.get("kind") == "metric"],
            "tool_call_form": _tool_call_form(by_kind.get("tool_call", {})),
            "tool_result_form": _tool_call_form({**by_kind.get("tool_result", {}), "tool": 1, "name": 1}),
            "artifact_ref_form": _artifact_form(by_kind.get("artifact_ref", {})),
            "every_event_has_ts": all(isinstance(e.get("ts"), str) for e in evs),
        }
        facts["tool_result_form"] = ("spec" if "call_id" in by_kind.get("tool_result", {}) else
                                     "reference" if "tool_call_id" in by_kind.get("tool_result", {}) else "unknown")
        require(job["client_terminal"] == "result" and job["final_status"] == "success",
                f"kitchen did not succeed: {job.get('error') or job.get('final_status')}")
        require(not facts["kinds_missing"], f"event kinds not delivered to the client: {facts['kinds_missing']}")
        require(isinstance(job["result"], dict) and job["result"].get("ok") is True,
                f"kitchen result {job['result']!r}")
    return facts


async def sc_budget(r: Runner) -> dict[str, Any]:
    """kitchen under a cost.budget lease: accepted.budget echo and cost.budget.remaining."""
    async with r.session() as s:
        job = await run_job(s, "kitchen", {}, lease_request={"cost.budget": ["USD:1.00"]})
        require_no_client_error(job)
        acc = next((f for f in s.rec.for_job(job["job_id"]) if f.get("type") == "job.accepted"), {})
        budget = acc.get("payload", {}).get("budget")
        usd = (budget or {}).get("USD")
        remaining = [e.get("body", {}).get("value") for e in wire_events(s, job["job_id"])
                     if e.get("kind") == "metric" and e.get("body", {}).get("name") == "cost.budget.remaining"]
        facts = {
            **public(job),
            "accepted_budget": budget,
            "budget_form": ("spec" if isinstance(usd, (int, float)) else
                            "reference" if isinstance(usd, str) else "absent"),
            "budget_remaining_metrics": remaining,
        }
        require(job["client_terminal"] == "result" and job["final_status"] == "success",
                f"kitchen did not succeed: {job.get('error') or job.get('final_status')}")
        require(budget is not None, "job.accepted carried no budget for a cost.budget lease")
        require(any(abs(float(v) - 0.75) < 1e-9 for v in remaining),
                f"expected a cost.budget.remaining metric of 0.75 USD, got {remaining}")
    return facts


async def sc_job_error(r: Runner) -> dict[str, Any]:
    async with r.session() as s:
        plain = await run_job(s, "fails", {"message": "boom"})
        require_no_client_error(plain)
        typed = await run_job(s, "fails", {"message": "nope", "code": "PERMISSION_DENIED"})
        require_no_client_error(typed)
        facts = {"plain": public(plain), "typed": public(typed)}
        for j in (plain, typed):
            j.pop("_chunks", None)
        for name, j, code, msg in (("plain", plain, "INTERNAL_ERROR", "boom"),
                                   ("typed", typed, "PERMISSION_DENIED", "nope")):
            require(j["client_terminal"] == "error", f"{name}: expected job.error, client saw {j['client_terminal']}")
            require(j["error"]["code"] == code, f"{name}: error code {j['error']['code']} != {code}")
            require(msg in j["error"]["message"], f"{name}: message {j['error']['message']!r} lacks {msg!r}")
            require((j["wire_terminal"] or {}).get("type") == "job.error", f"{name}: wire terminal {j['wire_terminal']}")
        require("log" in plain["events"], f"expected the 'about to fail' log event, got {plain['events']}")
        facts["plain_retryable"] = plain["error"]["retryable"]
    return facts


async def sc_cancel(r: Runner) -> dict[str, Any]:
    async with r.session() as s:
        h = await submit(s, "slow", {"seconds": 30, "tick": 0.2})
        first = await s.rec.wait_for(lambda f: f.get("type") == "job.event" and f.get("job_id") == h.job_id, 10)
        require(first is not None, "slow job emitted no event within 10 s")
        t0 = time.monotonic()
        await s.client.cancel_job(h.job_id, reason="interop test")
        job = await finish_job(s, h, timeout=10)
        dt_ms = round((time.monotonic() - t0) * 1000, 1)
        frames = s.rec.for_job(h.job_id)
        types = [f.get("type") for f in frames]
        term = s.rec.terminal_for(h.job_id) or {}
        tp = term.get("payload", {})
        if term.get("type") == "job.result" and tp.get("final_status") == "cancelled":
            ended_as, form = "job.result final_status=cancelled", "reference"
        elif term.get("type") == "job.error" and tp.get("code") == "CANCELLED":
            ended_as, form = f"job.error code=CANCELLED final_status={tp.get('final_status')}", "spec"
        else:
            ended_as, form = f"{term.get('type')} {json.dumps(tp)[:200]}", "unexpected"
        facts = {
            "job_id": h.job_id,
            "ended_as": ended_as,
            "form": form,
            "job_cancelled_ack": "job.cancelled" in types,
            "client_terminal": job["client_terminal"],
            "client_final_status": job.get("final_status"),
            "client_error_code": (job.get("error") or {}).get("code"),
            "cancel_to_terminal_ms": dt_ms,
            "events_before_terminal": job["events"],
            "wire_types": [t for t in types if t != "job.event"],
        }
        if job.get("client_error"):
            facts["client_error"] = job["client_error"]
        require(form != "unexpected", f"job did not end cancelled: {ended_as}")
        if job["client_terminal"] == "client_error":
            raise ScenarioFailed(
                "the runtime ended the job as cancelled on the wire, but the reference client could not "
                f"digest the terminal ({ended_as}): {job['client_error']}")
        require(job["client_terminal"] in ("result", "error"), f"client saw no terminal ({job['client_terminal']})")
        require(job.get("final_status") == "cancelled" or facts["client_error_code"] == "CANCELLED",
                f"client view is not cancelled: {job.get('final_status')} / {facts['client_error_code']}")
    return facts


async def sc_versions(r: Runner) -> dict[str, Any]:
    async with r.session() as s:
        w = s.welcome
        inv = None
        for a in (w.capabilities.agents if w else ()):
            if not isinstance(a, str) and a.name == "versioned":
                inv = {"versions": list(a.versions), "default": a.default}
            elif isinstance(a, str) and a.startswith("versioned"):
                inv = inv or {"names": []}
                inv.setdefault("names", []).append(a)
        bare = await run_job(s, "versioned", {})
        v2 = await run_job(s, "versioned@2.0.0", {})
        for j in (bare, v2):
            require_no_client_error(j)
        facts: dict[str, Any] = {
            "welcome_inventory": inv,
            "bare": {"accepted_agent": bare["accepted_agent"], "result": bare.get("result")},
            "v2": {"accepted_agent": v2["accepted_agent"], "result": v2.get("result")},
        }
        require(bare.get("result") == {"version": "1.0.0"}, f"bare 'versioned' result {bare.get('result')}")
        require(bare["accepted_agent"] == "versioned@1.0.0", f"bare accepted agent {bare['accepted_agent']!r}")
        require(v2.get("result") == {"version": "2.0.0"}, f"versioned@2.0.0 result {v2.get('result')}")
        require(v2["accepted_agent"] == "versioned@2.0.0", f"v2 accepted agent {v2['accepted_agent']!r}")
        # Last: the reference runtime answers with session.error, which fails every open handle.
        code, how = await expect_submit_error(s, "versioned@9.9.9", {})
        facts["missing_version_error"] = code
        facts["missing_version_error_frame"] = how
        require(code == "AGENT_VERSION_NOT_AVAILABLE", f"versioned@9.9.9 gave {code}, not AGENT_VERSION_NOT_AVAILABLE")
    return facts


async def expect_submit_error(s: Session, agent: str, inp: Any, **kw: Any) -> tuple[str | None, str]:
    """Submit expecting rejection; return (code, which frame carried it)."""
    n0 = len(s.rec.received)
    try:
        h = await s.client.submit(agent=agent, input=inp, **kw)
    except arcp.ARCPError as e:
        frame = next((f for f in s.rec.received[n0:] if f.get("type") in ("session.error", "job.error")), {})
        rid = "with request id" if _mentions_request(frame) else "without request id"
        return e.code, f"{frame.get('type')} ({rid})"
    except Exception as e:
        return None, f"client error: {_client_error_text(e, s.rec)}"
    job = await finish_job(s, h)
    if job["client_terminal"] == "error":
        return job["error"]["code"], "job.accepted then job.error"
    return None, f"accepted and ended {job['client_terminal']} {job.get('final_status')}"


def _mentions_request(frame: dict[str, Any]) -> bool:
    p = frame.get("payload", {})
    return bool(p.get("request_id") or (p.get("details") or {}).get("request_id") or frame.get("request_id"))


async def sc_idempotent(r: Runner) -> dict[str, Any]:
    key = f"interop-{uuid.uuid4().hex}"
    async with r.session() as s:
        first = await run_job(s, "echo", {"n": 1}, idempotency_key=key)
        require_no_client_error(first)
        n0 = len(s.rec.received)
        h2 = await submit(s, "echo", {"n": 1}, idempotency_key=key)
        second = await finish_job(s, h2, timeout=3)
        replay = s.rec.received[n0:]
        orig_ids = {f.get("id") for f in s.rec.received[:n0] if f.get("job_id") == first["job_id"]}
        facts: dict[str, Any] = {
            "job_id_first": first["job_id"],
            "job_id_second": second["job_id"],
            "same_job_id": first["job_id"] == second["job_id"],
            "second_terminal": second["client_terminal"],
            "second_result": second.get("result"),
            "duplicate_replay_types": [f.get("type") for f in replay],
            "replay_reuses_envelope_ids": any(f.get("id") in orig_ids for f in replay),
        }
        require(first.get("result") == {"echoed": {"n": 1}}, f"first result {first.get('result')}")
        require(facts["same_job_id"], f"duplicate submit got a new job_id {second['job_id']} != {first['job_id']}")
        require(second["client_terminal"] != "client_error", f"reference client error: {second.get('client_error')}")
        code, how = await expect_submit_error(s, "echo", {"n": 2}, idempotency_key=key)
        facts["conflict_error"] = code
        facts["conflict_error_frame"] = how
        require(code == "DUPLICATE_KEY", f"conflicting reuse of the key gave {code}, not DUPLICATE_KEY")
    return facts


async def sc_bad_token(r: Runner) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    async with r.raw() as (rec, proc):
        client = ARCPClient(client=ClientInfo(name="swift-arcp-interop-pyclient", version="1.1.3"),
                            token="WRONG-token")
        try:
            await client.connect(rec)
            facts["connected"] = True
            with contextlib.suppress(Exception):
                await client.close()
            raise ScenarioFailed("a bad token was accepted (session.welcome received)")
        except arcp.ARCPError as e:
            facts["error_code"] = e.code
            facts["error_message"] = e.message
            facts["error_retryable"] = e.retryable
        except (arcp.TransportClosed, asyncio.TimeoutError, TimeoutError) as e:
            facts["error_code"] = None
            facts["client_error"] = f"{type(e).__name__}: {e} (no session.error frame before close)"
        facts["reply_types"] = [f.get("type") for f in rec.received]
        # Does the runtime close the connection afterwards? (the reference does, WS close 1000)
        try:
            extra = await asyncio.wait_for(rec.inner.recv(), 3)
            facts["closed_after_error"] = False
            facts["frame_after_error"] = extra.get("type")
        except arcp.TransportClosed:
            facts["closed_after_error"] = True
        except asyncio.TimeoutError:
            facts["closed_after_error"] = False
        conn = getattr(rec.inner, "_conn", None)
        if conn is not None and getattr(conn, "close_code", None) is not None:
            facts["ws_close_code"] = conn.close_code
            facts["ws_close_reason"] = conn.close_reason
    if r.mode == "stdio" and r.child_exits:
        facts["child_exit"] = r.child_exits[-1]
    require(facts.get("error_code") == "UNAUTHENTICATED",
            f"expected UNAUTHENTICATED, got {facts.get('error_code')} {facts.get('client_error', '')}")
    return facts


async def sc_list_jobs(r: Runner) -> dict[str, Any]:
    async with r.session() as s:
        done = await run_job(s, "echo", {"list": 1})
        require_no_client_error(done)
        h = await submit(s, "slow", {"seconds": 30, "tick": 0.2})
        ev = await s.rec.wait_for(lambda f: f.get("type") == "job.event" and f.get("job_id") == h.job_id, 10)
        require(ev is not None, "slow job emitted no event within 10 s")
        try:
            every = await s.client.list_jobs()
            running = await s.client.list_jobs(filter=ListJobsFilter(status=("running",)))
            by_agent = await s.client.list_jobs(filter=ListJobsFilter(agent="echo"))
            page1 = await s.client.list_jobs(limit=1)
            page2 = (await s.client.list_jobs(limit=1, cursor=page1.next_cursor)) if page1.next_cursor else None
        except arcp.ARCPError as e:
            raise ScenarioFailed(f"list_jobs answered with {e.code}: {e.message}") from e
        except Exception as e:
            raise ScenarioFailed(f"reference client failed on session.jobs: {_client_error_text(e, s.rec)}") from e
        jobs_frame = next((f for f in reversed(s.rec.received) if f.get("type") == "session.jobs"), {})
        raw_entries = jobs_frame.get("payload", {}).get("jobs", [])
        status_of = {j.job_id: j.status for j in every.jobs}
        facts: dict[str, Any] = {
            "count": len(every.jobs),
            "statuses": {"echo": status_of.get(done["job_id"]), "slow": status_of.get(h.job_id)},
            "running_filter": [j.job_id == h.job_id for j in running.jobs],
            "agent_filter_agents": sorted({j.agent for j in by_agent.jobs}),
            "paged": page1.next_cursor is not None,
            "page2_count": None if page2 is None else len(page2.jobs),
            "entry_fields": sorted(raw_entries[0].keys()) if raw_entries else [],
        }
        fields = set(facts["entry_fields"])
        facts["entry_form"] = ("spec" if {"created_at", "lease", "last_event_seq"} <= fields else
                               "reference" if "submitted_at" in fields else "other")
        await s.client.cancel_job(h.job_id, reason="interop cleanup")
        await finish_job(s, h, timeout=10)
        require(done["job_id"] in status_of and h.job_id in status_of,
                f"listed job ids {list(status_of)} miss {done['job_id']} or {h.job_id}")
        require(status_of[done["job_id"]] == "success", f"finished echo listed as {status_of[done['job_id']]}")
        require(status_of[h.job_id] == "running", f"slow job listed as {status_of[h.job_id]}")
        require(running.jobs and all(j.status == "running" for j in running.jobs)
                and any(j.job_id == h.job_id for j in running.jobs), "status filter 'running' is wrong")
        require(facts["agent_filter_agents"] == ["echo"], f"agent filter returned agents {facts['agent_filter_agents']}")
        require(len(page1.jobs) == 1, f"limit=1 returned {len(page1.jobs)} entries")
        require(page2 is not None and len(page2.jobs) >= 1
                and page2.jobs[0].job_id != page1.jobs[0].job_id, "cursor paging did not give the next entry")
    return facts


async def sc_progress(r: Runner) -> dict[str, Any]:
    async with r.session() as s:
        job = await run_job(s, "progress", {"steps": 5, "delay": 0.02})
        require_no_client_error(job)
        bodies = [e.get("body", {}) for e in wire_events(s, job["job_id"]) if e.get("kind") == "progress"]
        facts = {
            **public(job),
            "currents": [b.get("current") for b in bodies],
            "totals": sorted({b.get("total") for b in bodies}, key=str),
            "units": sorted({b.get("units") for b in bodies}, key=str),
            "has_messages": all(isinstance(b.get("message"), str) for b in bodies),
        }
        facts.pop("_chunks", None)
        require(job.get("result") == {"steps": 5}, f"progress result {job.get('result')}")
        require(facts["currents"] == [0, 1, 2, 3, 4, 5], f"progress currents {facts['currents']}")
        require(facts["totals"] == [5] and facts["units"] == ["steps"], f"totals/units {facts['totals']} {facts['units']}")
        require(job["events"].count("progress") == 6, f"client saw {job['events'].count('progress')} progress events")
    return facts


def _assemble(chunks: list[dict[str, Any]]) -> tuple[bytes, list[str], list[int], list[bool]]:
    out = bytearray()
    for c in chunks:
        data = c.get("data", "")
        out.extend(base64.b64decode(data) if c.get("encoding") == "base64" else str(data).encode("utf-8"))
    return (bytes(out), sorted({c.get("encoding") for c in chunks}, key=str),
            [c.get("chunk_seq") for c in chunks], [c.get("more") for c in chunks])


async def sc_chunked(r: Runner) -> dict[str, Any]:
    text = "The quick brown fox jumps over the lazy dog. Ünïcødé ✓ — end."
    async with r.session() as s:
        tj = await run_job(s, "chunked", {"text": text, "chunk_size": 8})
        bj = await run_job(s, "chunked", {"text": text, "chunk_size": 5, "binary": True})
        facts: dict[str, Any] = {}
        for name, j, expect in (("text", tj, text.encode()), ("binary", bj, text.encode())):
            require_no_client_error(j)
            data, encs, seqs, more = _assemble(j["_chunks"])
            ids = {c.get("result_id") for c in j["_chunks"]}
            facts[name] = {
                "chunks": len(j["_chunks"]), "encodings": encs, "result_id": j.get("result_id"),
                "result_size": j.get("result_size"), "inline_result": j.get("result"),
                "assembled": data.decode("utf-8", "replace"), "final_status": j.get("final_status"),
                "last_chunk_empty": bool(j["_chunks"]) and j["_chunks"][-1].get("data") == "",
            }
            require(j.get("final_status") == "success", f"{name}: final_status {j.get('final_status')} {j.get('error')}")
            require(data == expect, f"{name}: assembled {data!r} != {expect!r}")
            require(j.get("result_id") is not None and ids == {j.get("result_id")},
                    f"{name}: job.result result_id {j.get('result_id')} vs chunk ids {ids}")
            require(j.get("result") is None, f"{name}: inline result mixed with chunks: {j.get('result')!r}")
            require(seqs == list(range(len(seqs))), f"{name}: chunk_seq {seqs} not 0..n-1")
            require(more and more[-1] is False and all(more[:-1]), f"{name}: more flags {more}")
        # result_size: the reference counts characters for utf8 text, bytes for binary.
        facts["text"]["result_size_unit"] = ("chars" if tj.get("result_size") == len(text) else
                                             "bytes" if tj.get("result_size") == len(text.encode()) else "other")
        require(bj.get("result_size") == len(text.encode()) or bj.get("result_size") == len(text),
                f"binary result_size {bj.get('result_size')}")
        require("base64" in facts["binary"]["encodings"], f"binary chunks not base64: {facts['binary']['encodings']}")
    return facts


SCENARIOS: dict[str, Callable[[Runner], Awaitable[dict[str, Any]]]] = {
    "echo": sc_echo,
    "all_event_kinds": sc_all_event_kinds,
    "budget": sc_budget,
    "job_error": sc_job_error,
    "cancel": sc_cancel,
    "versions": sc_versions,
    "idempotent": sc_idempotent,
    "bad_token": sc_bad_token,
    "list_jobs": sc_list_jobs,
    "progress": sc_progress,
    "chunked": sc_chunked,
}


async def run_one(r: Runner, name: str) -> bool:
    line: dict[str, Any] = {"scenario": name, "ok": False, "transport": r.mode}
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT_SEC):
            facts = await SCENARIOS[name](r)
        line.update(ok=True, **facts)
    except ScenarioFailed as e:
        line["error"] = str(e)
    except TimeoutError:
        line["error"] = f"scenario timed out after {SCENARIO_TIMEOUT_SEC}s"
    except arcp.ARCPError as e:
        line["error"] = f"unexpected ARCP error {e.code}: {e.message}"
    except (OSError, arcp.TransportClosed) as e:
        line["error"] = f"connection failed: {type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - report anything as a JSON line
        line["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc(file=sys.stderr)
    line["runtime"] = r.runtime_label
    if r.mode == "stdio":
        line["child_exits"] = r.child_exits
        r.child_exits = []
    line["ms"] = round((time.monotonic() - t0) * 1000, 1)
    line.pop("_chunks", None)
    print(json.dumps(line, default=str, ensure_ascii=False), flush=True)
    return bool(line["ok"])


def parse_args(argv: list[str]) -> argparse.Namespace:
    cmd: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="ws://HOST:PORT/arcp of the runtime under test")
    p.add_argument("--stdio", action="store_true", help="spawn the command after `--` as a stdio runtime")
    p.add_argument("--token", default="tok", help="bearer token (default: tok)")
    p.add_argument("scenario", choices=[*SCENARIOS, "all"])
    a = p.parse_args(argv)
    if a.stdio == bool(a.url):
        p.error("give exactly one of --url or --stdio")
    if a.stdio and not cmd:
        p.error("--stdio needs the runtime command after `--`")
    if a.url and cmd:
        p.error("a command after `--` is only used with --stdio")
    a.cmd = cmd
    return a


async def amain(a: argparse.Namespace) -> int:
    r = Runner(a)
    names = list(SCENARIOS) if a.scenario == "all" else [a.scenario]
    ok = True
    for n in names:
        ok = await run_one(r, n) and ok
    return 0 if ok else 1


def main() -> None:
    a = parse_args(sys.argv[1:])
    sys.exit(asyncio.run(amain(a)))


if __name__ == "__main__":
    main()
