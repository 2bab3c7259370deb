#!/usr/bin/env bash
# gpu-check.sh: check, on a machine with an NVIDIA GPU, that a rayo task
# asking for one GPU sees exactly one (CUDA_VISIBLE_DEVICES, nvidia-smi -L,
# torch.cuda.device_count()).
#
# It builds nothing, so the GPU machine needs no Go toolchain. Build the two
# static binaries anywhere with Go (same OS/architecture as the GPU machine):
#
#   CGO_ENABLED=0 go build -o bin/rayo ./cmd/rayo
#   CGO_ENABLED=0 go build -o bin/gpucheck ./examples/gpucheck
#
# then, on the GPU machine:
#
#   scripts/gpu-check.sh bin/rayo bin/gpucheck [gpucheck flags...]
#   # or: RAYO_BIN=bin/rayo GPU_CHECK_BIN=bin/gpucheck scripts/gpu-check.sh
#
# It starts a head (`rayo start --head --port 0 --temp-dir $TMP --block`) in
# the background with the GPUs rayo detects, waits for the session's address
# file, runs gpucheck against it (RAYO_ADDRESS and RAYO_TOKEN from the
# session directory), prints its output, stops the head, and exits with
# gpucheck's status: 0 pass, 1 a check failed, 2 the task did not run.
# Other failures of the script itself exit 3.
#
# Environment:
#   RAYO_BIN, GPU_CHECK_BIN  the binaries, when not given as arguments
#   GPU_CHECK_NUM_GPUS       pass --num-gpus to the head instead of detecting
#   GPU_CHECK_START_TIMEOUT  seconds to wait for the head (default 60)
#   GPU_CHECK_KEEP_TMP=1     keep the temp dir (session, logs) afterwards
#
# Extra arguments after the two binaries go to gpucheck (e.g. -timeout 10m).
set -euo pipefail

die() { echo "gpu-check: $*" >&2; exit 3; }

RAYO_BIN=${1:-${RAYO_BIN:-}}
GPU_CHECK_BIN=${2:-${GPU_CHECK_BIN:-}}
[[ $# -ge 2 ]] && shift 2 || shift $#
[[ -n $RAYO_BIN && -n $GPU_CHECK_BIN ]] ||
	die "usage: $0 RAYO_BIN GPU_CHECK_BIN [gpucheck flags...] (or set RAYO_BIN and GPU_CHECK_BIN)"
[[ -x $RAYO_BIN ]] || die "$RAYO_BIN is not an executable file"
[[ -x $GPU_CHECK_BIN ]] || die "$GPU_CHECK_BIN is not an executable file"
# Absolute paths: the check program uploads its own executable.
RAYO_BIN=$(cd "$(dirname "$RAYO_BIN")" && pwd)/$(basename "$RAYO_BIN")
GPU_CHECK_BIN=$(cd "$(dirname "$GPU_CHECK_BIN")" && pwd)/$(basename "$GPU_CHECK_BIN")
START_TIMEOUT=${GPU_CHECK_START_TIMEOUT:-60}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rayo-gpu-check.XXXXXX")
HEAD_PID=
HEAD_LOG=$TMP/head.log

cleanup() {
	local rc=$?
	if [[ -n $HEAD_PID ]] && kill -0 "$HEAD_PID" 2>/dev/null; then
		kill -TERM "$HEAD_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$HEAD_PID" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$HEAD_PID" 2>/dev/null; then
			echo "gpu-check: the head did not stop on SIGTERM; killing it" >&2
			kill -KILL "$HEAD_PID" 2>/dev/null || true
		fi
		wait "$HEAD_PID" 2>/dev/null || true
	fi
	if [[ $rc -ne 0 && -s $HEAD_LOG ]]; then
		echo "gpu-check: last lines of the head's output:" >&2
		tail -n 30 "$HEAD_LOG" >&2 || true
	fi
	if [[ ${GPU_CHECK_KEEP_TMP:-0} == 1 ]]; then
		echo "gpu-check: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "gpu-check: GPUs on this machine:"
if command -v nvidia-smi >/dev/null; then
	nvidia-smi -L || echo "gpu-check: nvidia-smi -L failed" >&2
else
	echo "gpu-check: nvidia-smi is not on the PATH" >&2
fi

head_args=(start --head --port 0 --temp-dir "$TMP" --block)
if [[ -n ${GPU_CHECK_NUM_GPUS:-} ]]; then
	head_args+=(--num-gpus "$GPU_CHECK_NUM_GPUS")
fi
echo "gpu-check: $RAYO_BIN ${head_args[*]}"
"$RAYO_BIN" "${head_args[@]}" >"$HEAD_LOG" 2>&1 &
HEAD_PID=$!

addr_file=$TMP/session_latest/address
deadline=$((SECONDS + START_TIMEOUT))
until [[ -s $addr_file ]]; do
	kill -0 "$HEAD_PID" 2>/dev/null || die "the head exited before writing $addr_file"
	((SECONDS < deadline)) || die "no $addr_file after ${START_TIMEOUT}s"
	sleep 0.2
done
RAYO_ADDRESS=$(tr -d '[:space:]' <"$addr_file")
token_file=$TMP/session_latest/token
for _ in $(seq 1 50); do [[ -s $token_file ]] && break; sleep 0.1; done
[[ -s $token_file ]] || die "no $token_file"
RAYO_TOKEN=$(tr -d '[:space:]' <"$token_file")
echo "gpu-check: head at $RAYO_ADDRESS (pid $HEAD_PID, session $(readlink -f "$TMP/session_latest"))"
"$RAYO_BIN" status --address "$RAYO_ADDRESS" --token-file "$token_file" --temp-dir "$TMP" 2>&1 || true

echo "gpu-check: $GPU_CHECK_BIN $*"
set +e
RAYO_ADDRESS=$RAYO_ADDRESS RAYO_TOKEN=$RAYO_TOKEN "$GPU_CHECK_BIN" "$@"
rc=$?
set -e
echo "gpu-check: gpucheck exited with status $rc"
exit "$rc"
