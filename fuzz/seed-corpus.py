"""Writes the fuzzer's seed corpus: one file per request in the conformance table
(tests/cases/mod.rs), sent whole, split into single bytes, and pipelined after a
valid request."""

import ast
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent
table = (root.parent / "tests" / "cases" / "mod.rs").read_text()
cases = re.findall(r'case\("([^"]+)", b"((?:[^"\\]|\\.)*)"', table)
if len(cases) < 40:
    sys.exit(f"found only {len(cases)} cases in tests/cases/mod.rs")

corpus = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else root / "corpus" / "connection")
corpus.mkdir(parents=True, exist_ok=True)
valid = b"GET /toy HTTP/1.1\r\nHost: t\r\n\r\n"
for index, (name, literal) in enumerate(cases):
    request = ast.literal_eval('b"' + literal + '"')
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    (corpus / f"{index:02}-{slug}").write_bytes(b"\0" + request)
    (corpus / f"{index:02}-{slug}-bytes").write_bytes(b"\x0f" + b"\x01" * 15 + request)
    (corpus / f"{index:02}-{slug}-pipelined").write_bytes(b"\0" + valid + request)
print(f"{3 * len(cases)} seeds from {len(cases)} cases in {corpus}")
