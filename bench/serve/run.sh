#!/bin/sh
# Runs servebench's five rows with the durations docs/performance.md
# quotes, installing Debian's wrk first when it is missing. Extra flags
# go to servebench and override these (e.g. ./bench/serve/run.sh -rows 2).
set -eu
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null 2>&1; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null 2>&1 || { echo "run.sh: wrk is missing and installing it needs root: apt-get install -y wrk" >&2; exit 1; }
		sudo=sudo
	fi
	# A fresh image may have no package lists yet.
	$sudo apt-get install -y wrk || { $sudo apt-get update && $sudo apt-get install -y wrk; }
fi
bin="${TMPDIR:-/tmp}/servebench"
go build -o "$bin" ./bench/serve/cmd/servebench
exec "$bin" -rows 1,2,3,4,5 -c 1,64,512 -hop-c 1,64 -d 5s -n 1000000 \
	-upscale-delay 2s -downscale-delay 10s -max-replicas 4 "$@"
