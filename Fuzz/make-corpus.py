#!/usr/bin/env python3
"""Regenerates the committed seed corpora under Fuzz/corpus/ (run from anywhere):

  Fuzz/make-corpus.py [--transcripts DIR]     (default: $ARCP_SHARED_DIR or ../shared, then
                                               reference/python-1.1.3/transcripts)

- envelope/ and json/: every distinct frame (`raw`) of the Python reference's transcripts
  one file per frame, and the JSON examples of the spec (shared/spec/draft-arcp-1.1.md);
  json/ also gets JSON edge cases.
- lease/: one file per (syntax, pattern A, pattern B, target[, amount]) in the format the lease
  harness reads (byte 0 = syntax, then newline-separated fields), built from every lease and
  lease_constraints in the transcripts and from the attack cases below.

File names are content hashes, so rerunning is idempotent and libFuzzer's own additions
(kept out of the repository) never clash.
"""
import argparse, glob, hashlib, json, os, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def write(kind, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.join(ROOT, "Fuzz", "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

JSON_EDGES = [
    "0", "-0", "1e308", "-1e308", "1e309", "4.9e-324", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "1.0", "1E+2", "[]", "{}", "null", "true", "false",
    '"\\ud83d\\ude00"', '"\\ud83d"', '"\\u0000"', '"\\/"', '{"a":1,"a":2}', '[' * 300 + ']' * 300,
    '{"a":[{"b":null}]}', '"\xc3\xa9"', ' \t\n\r[ 1 , 2 ]\n',
]

# Syntax selector bytes: 0 path, 1 url, 2 name, 3 agentName, 4 modelName.
SYNTAX = {"fs.read": 0, "fs.write": 0, "net.fetch": 1, "tool.call": 2, "agent.delegate": 3, "model.use": 4}
LEASE_CASES = [
    (0, "/workspace/**", "/**", "/workspace/a/../../etc/passwd"),
    (0, "/workspace/*/src/**", "/workspace/**", "/workspace/app/src/%2e%2e/x"),
    (0, "/data/*.csv", "/data/**", "/data//x.csv/."),
    (0, "/a/**/b", "/a/**", "/a/%252e/b"),
    (0, "/tmp/job-*/out/**", "/tmp/**", "/tmp/job-1/out/%c0%ae"),
    (1, "https://api.example.com/v1/**", "https://**.example.com/**", "HTTPS://API.EXAMPLE.COM:443/v1/../v2?q#f"),
    (1, "https://*.github.com/repos/*/*/issues/**", "https://**", "https://u@github.com/"),
    (1, "http://localhost:8080/**", "http://localhost:*/**", "http://localhost:08080/%2f"),
    (1, "https://[::1]:8443/x", "https://[::1]:*/**", "https://[::1]:8443/x"),
    (2, "search.*", "**", "search.web"),
    (2, "mcp:github/*", "mcp:github/**", "mcp:github/issues"),
    (3, "lint-*@2.*", "lint-*", "lint-runner@2.1"),
    (3, "research.*", "**", "research.deep@1.0.0"),
    (4, "anthropic/claude-3-haiku-*", "anthropic/**", "anthropic/claude-3-haiku-20240307"),
    (4, "tier-fast/*", "*/*", "tier-fast/gpt-4.1"),
]

def main():
    p = argparse.ArgumentParser()
    shared = os.environ.get("ARCP_SHARED_DIR") or os.path.join(ROOT, "..", "shared")
    p.add_argument("--transcripts", default=os.path.join(shared, "reference", "python-1.1.3", "transcripts"))
    args = p.parse_args()
    files = sorted(glob.glob(os.path.join(args.transcripts, "*.jsonl")))
    if not files:
        sys.exit(f"make-corpus: no transcripts in {args.transcripts}")
    frames = []
    for path in files:
        for line in open(path, encoding="utf-8"):
            record = json.loads(line)
            if "raw" in record:
                frames.append(record["raw"])
    spec = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(args.transcripts))), "spec", "draft-arcp-1.1.md")
    if os.path.exists(spec):
        for block in re.findall(r"```json\n(.*?)```", open(spec, encoding="utf-8").read(), re.S):
            try:
                frames.append(json.dumps(json.loads(block), separators=(",", ":")))
            except ValueError:
                pass  # an elided example ("...")
    for raw in set(frames):
        write("envelope", raw)
        write("json", raw)
    for edge in JSON_EDGES:
        write("json", edge)
    for syntax, a, b, target in LEASE_CASES:
        write("lease", bytes([syntax]) + f"{a}\n{b}\n{target}".encode())
    for raw in set(frames):
        try:
            payload = json.loads(raw).get("payload") or {}
        except ValueError:
            continue
        lease = payload.get("lease_request") or payload.get("lease") or {}
        budget = lease.get("cost.budget", [])
        for ns, patterns in lease.items():
            if ns not in SYNTAX or not isinstance(patterns, list):
                continue
            for pattern in patterns:
                amount = f"\n{budget[0]}" if budget else ""
                write("lease", bytes([SYNTAX[ns]]) + f"{pattern}\n**\n{pattern}{amount}".encode())
        expires = (payload.get("lease_constraints") or {}).get("expires_at")
        if isinstance(expires, str):
            write("lease", bytes([0]) + f"/**\n/**\n{expires}".encode())
    write_dictionaries()
    for kind in ("envelope", "json", "lease"):
        n = len(os.listdir(os.path.join(ROOT, "Fuzz", "corpus", kind)))
        print(f"Fuzz/corpus/{kind}: {n} files")

JSON_TOKENS = ["{", "}", "[", "]", ":", ",", '"', "true", "false", "null", "-", "0", ".", "e", "E+", "e-",
               r"\u", r"\ud800", r"\udc00", r"\n", r'\"', "1e308", "9223372036854775808"]

LEASE_TOKENS = ["/", "//", "*", "**", "/**", ".", "..", "/../", "%", "%2e", "%2E", "%2f", "%25", "%00", "%c0%ae", "\\",
                "://", "https://", "http://", "ws://", ":443", ":80", ":*", "@", "?", "#", "[::1]", ".", "*.", "**.",
                "mcp:", "@1.0.0", "USD:", "EUR:", "0.00", "2026-01-01T00:00:00Z", ".999999999Z", "\n"]

def dict_entry(token):
    """A libFuzzer dictionary line: the token quoted, with \\, \" and non-printables escaped."""
    out = []
    for b in token.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\x%02X" % b)
    return '"' + "".join(out) + '"'

def write_dictionaries():
    """libFuzzer dictionaries: JSON tokens, and for envelopes every name and value the schema knows."""
    d = os.path.join(ROOT, "Fuzz", "dictionaries")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "json.dict"), "w") as f:
        f.write("# JSON tokens (Fuzz/make-corpus.py)\n")
        for t in JSON_TOKENS:
            f.write(dict_entry(t) + "\n")
    with open(os.path.join(d, "lease.dict"), "w") as f:
        f.write("# Lease pattern and target tokens (Fuzz/make-corpus.py)\n")
        for t in LEASE_TOKENS:
            f.write(dict_entry(t) + "\n")
    schema = json.load(open(os.path.join(ROOT, "schema", "arcp.schema.json"), encoding="utf-8"))
    names = set()
    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "properties" and isinstance(v, dict):
                    names.update(v.keys())
                if k in ("const", "enum", "x-arcp-enum"):
                    for x in (v if isinstance(v, list) else [v]):
                        if isinstance(x, str):
                            names.add(x)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(schema)
    with open(os.path.join(d, "envelope.dict"), "w") as f:
        f.write("# Member names and closed values of schema/arcp.schema.json, quoted (Fuzz/make-corpus.py)\n")
        for n in sorted(names):
            f.write(dict_entry('"' + n + '"') + "\n")
        for t in JSON_TOKENS:
            f.write(dict_entry(t) + "\n")

if __name__ == "__main__":
    main()
