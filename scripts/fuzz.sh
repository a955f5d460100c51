#!/bin/sh
# Fuzzes the HTTP/1.1 parser for SECONDS (default 60): builds build-fuzz with clang and
# libFuzzer, seeds a corpus from llhttp's conformance vectors, and exits non-zero on a finding
# (the crashing input is left in build-fuzz/findings/).
# Usage: scripts/fuzz.sh [SECONDS]
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEDDY_FUZZ=ON -DEDDY_TESTS=OFF -DEDDY_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target fuzz_http_parser -j2 >/dev/null

# One seed per vector: its raw bytes, behind a control byte (0: whole, no pause) as the
# target expects.
corpus="$build/corpus/http_parser"
mkdir -p "$corpus" "$build/findings"
python3 - "$root/tests/data/llhttp_vectors.json" "$corpus" <<'PY'
import base64, hashlib, json, os, sys
for v in json.load(open(sys.argv[1])):
    if v["kind"] != "http":
        continue
    data = b"\0" + base64.b64decode(v["input_b64"])
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(sys.argv[2], "seed-" + name), "wb") as f:
        f.write(data)
PY

cd "$build/findings"
"$build/tests/fuzz/fuzz_http_parser" -max_total_time="$seconds" -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$build/findings/" "$corpus"
