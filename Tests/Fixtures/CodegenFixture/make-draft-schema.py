#!/usr/bin/env python3
"""Writes a newer draft of the ARCP schema: the shipped schema plus what a minor release adds.

usage: make-draft-schema.py SHIPPED_SCHEMA OUTPUT

The additions (each decoded and validated by Tests/FixtureTests):
- message type  job.pause        -> JobPausePayload {reason?}, requires the envelope's job_id
- event kind    checkpoint       -> CheckpointBody {label, state?}
- error code    RATE_LIMITED
- feature flag  checkpoints
- optional field JobSubmitPayload.priority: integer 0...9
"""
import json
import sys

shipped, output = sys.argv[1], sys.argv[2]
with open(shipped, encoding="utf-8") as f:
    schema = json.load(f)
defs = schema["$defs"]


def mapping(prop, value, content, definition, required=None):
    rule = {
        "if": {"properties": {prop: {"const": value}}, "required": [prop]},
        "then": {"properties": {content: {"$ref": "#/$defs/" + definition}}},
    }
    if required:
        rule["then"]["required"] = required
    return rule


defs["JobPausePayload"] = {
    "type": "object",
    "description": "Pause a running job (draft).",
    "properties": {"reason": {"type": "string"}},
}
defs["Envelope"]["allOf"].append(mapping("type", "job.pause", "payload", "JobPausePayload", ["job_id"]))

defs["CheckpointBody"] = {
    "type": "object",
    "description": "checkpoint (draft): the job saved its state.",
    "properties": {"label": {"type": "string", "minLength": 1}, "state": {"description": "Any JSON value."}},
    "required": ["label"],
}
defs["JobEventPayload"]["allOf"].append(mapping("kind", "checkpoint", "body", "CheckpointBody"))

defs["ErrorCode"]["x-arcp-enum"].append("RATE_LIMITED")
defs["Feature"]["x-arcp-enum"].append("checkpoints")
defs["JobSubmitPayload"]["properties"]["priority"] = {"type": "integer", "minimum": 0, "maximum": 9}

schema["title"] = schema.get("title", "ARCP") + " (draft)"
text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
try:
    with open(output, encoding="utf-8") as f:
        if f.read() == text:
            sys.exit(0)  # unchanged: keep the file's date, so the plugin does not rerun
except FileNotFoundError:
    pass
with open(output, "w", encoding="utf-8") as f:
    f.write(text)
