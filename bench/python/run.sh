#!/bin/sh
# Ray's ray_perf.py rows for Python on rayo (perf.py), then the Go rows of
# the same run: `rayo microbenchmark` and gobench (Go→Go and Go→Python
# calls). Needs Debian's python3-msgpack, python3-cloudpickle and
# python3-numpy. Results: docs/performance.md, "Python".
set -eu
cd "$(dirname "$0")/../.."
out="${TMPDIR:-/tmp}/rayo-pybench"
mkdir -p "$out"
go build -o "$out/rayo" ./cmd/rayo
go build -o "$out/gobench" ./bench/python/gobench
echo "== Python (perf.py)"
RAYO_BINARY="$out/rayo" PYTHONPATH="$PWD/python:$PWD/bench/python" /usr/bin/python3 bench/python/perf.py "$out/gobench"
echo "== Go, same machine, same run (gobench)"
RAYO_PYTHON=/usr/bin/python3 "$out/gobench" "$@"
echo "== Go (rayo microbenchmark)"
"$out/rayo" microbenchmark
