#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from the repository's fixtures.

* ntlm_messages, ntlm_av_pairs, spnego_token: every `hex = "..."` value (and every
  `*_hex = "..."` value) in fixtures/vectors/**/*.toml, decoded to binary.
* world_toml: fixtures/worlds/*.toml.   scenario_toml: fixtures/conformance/*.toml.

Run from anywhere: python3 fuzz/seeds.py. Existing files are kept (names are content hashes).
"""
import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
HEX = re.compile(r'^\s*\w*hex\s*=\s*"([0-9a-fA-F]*)"', re.M)


def put(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest())).write_bytes(data)


blobs = set()
for f in sorted((ROOT / "fixtures" / "vectors").rglob("*.toml")):
    for h in HEX.findall(f.read_text()):
        if h and len(h) % 2 == 0:
            blobs.add(bytes.fromhex(h))
for b in blobs:
    for t in ("ntlm_messages", "ntlm_av_pairs", "spnego_token"):
        put(t, b)
for f in sorted((ROOT / "fixtures" / "worlds").glob("*.toml")):
    put("world_toml", f.read_bytes())
for f in sorted((ROOT / "fixtures" / "conformance").glob("*.toml")):
    put("scenario_toml", f.read_bytes())
print(len(blobs), "binary seeds;", {d.name: len(list(d.iterdir())) for d in sorted(CORPUS.iterdir())})
