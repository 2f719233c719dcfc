#!/usr/bin/env python3
"""An independent validator for the ARCP schema: Python's `jsonschema` (Draft 2020-12).

usage: validate.py SCHEMA < FRAMES.json > RESULT.json

FRAMES.json is a JSON array of frame texts. RESULT.json is
  {"metaschema": null | "<why the schema is not a valid 2020-12 schema>",
   "jsonschema": "<version>",
   "results": [{"json": true|false, "errors": [["/json/pointer", "keyword"], ...]}, ...]}
one result per frame, in order ("json": false when the text is not JSON). Used by
Tests/ARCPGeneratedTests/JSONSchemaValidityTests.swift.
"""
import json
import sys
from importlib import metadata

import jsonschema
from jsonschema import Draft202012Validator


def pointer(path):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    try:
        Draft202012Validator.check_schema(schema)
        problem = None
    except jsonschema.exceptions.SchemaError as e:
        problem = "%s at %s" % (e.message, pointer(e.absolute_path))
    validator = Draft202012Validator(schema)
    results = []
    for text in json.load(sys.stdin):
        try:
            frame = json.loads(text)
        except ValueError:
            results.append({"json": False, "errors": []})
            continue
        errors = sorted({(pointer(e.absolute_path), e.validator) for e in validator.iter_errors(frame)})
        results.append({"json": True, "errors": [list(e) for e in errors]})
    json.dump({"metaschema": problem, "jsonschema": metadata.version("jsonschema"), "results": results}, sys.stdout)


main()
