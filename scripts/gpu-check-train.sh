#!/usr/bin/env bash
# gpu-check-train.sh: check, on a machine with NVIDIA GPUs, that rayo Train's
# TorchTrainer runs a PyTorch DDP script with NCCL (examples/train/torch):
# one worker per GPU where there are two or more (up to 4), else one NCCL
# worker; each worker's script must see exactly its own GPU
# (CUDA_VISIBLE_DEVICES names one device, torch.cuda.device_count() == 1,
# and no two ranks share a device), training must finish on nccl, and the
# model must learn (the example exits non-zero otherwise).
#
# The GPU machine needs no Go toolchain. Build on a machine with Go (same
# OS/architecture), from the repository root:
#
#   scripts/gpu-check-train.sh build [--with-rayo] OUTDIR
#
# which writes OUTDIR/train-torch (static: CGO_ENABLED=0; it embeds the
# rayo Python package, so nothing else is installed), OUTDIR/train.py and,
# with --with-rayo, OUTDIR/rayo (the CLI, for a head where nvidia-smi is
# missing). Then copy OUTDIR and this script to the GPU machine and run
#
#   scripts/gpu-check-train.sh run OUTDIR [example flags...]
#   scripts/gpu-check-train.sh run --cpu OUTDIR   # the same on CPU, gloo
#
# --cpu needs no GPU: 2 workers on gloo, so the script can be exercised
# anywhere. Without it, a machine with no NVIDIA GPU fails ("no NVIDIA
# GPU"). The example starts its own embedded cluster, which finds the GPUs
# with nvidia-smi; where nvidia-smi is missing (or GPU_CHECK_TRAIN_HEAD=1)
# a head is started instead (`rayo start --head --num-gpus N`, N from
# torch) and the example joins it.
#
# Output: the example's, then PASS/FAIL lines. Exit status: 0 all passed,
# 1 a check failed, 2 usage or setup error. Every process it started
# (carrying a marker in its environment) is stopped on exit.
#
# Environment:
#   GPU_CHECK_PYTHON          interpreter (default: the first of
#                             /usr/bin/python3 and python3 that imports
#                             torch, with CUDA unless --cpu)
#   GPU_CHECK_TRAIN_HEAD=1    start a head rather than the embedded cluster
#   GPU_CHECK_TRAIN_TIMEOUT   seconds for the example (default 600)
#   GPU_CHECK_KEEP_TMP=1      keep the temp dir (log, runs) afterwards
set -euo pipefail

die() { echo "gpu-check-train: $*" >&2; exit 2; }
usage() { die "usage: $0 build [--with-rayo] OUTDIR | $0 run [--cpu] OUTDIR [example flags...]"; }

[[ $# -ge 1 ]] || usage
mode=$1
shift

if [[ $mode == build ]]; then
	with_rayo=0
	if [[ ${1:-} == --with-rayo ]]; then
		with_rayo=1
		shift
	fi
	[[ $# -eq 1 ]] || usage
	[[ -f examples/train/torch/train.py ]] || die "run 'build' from the repository root"
	out=$1
	mkdir -p "$out"
	# Stripped (-s -w): about 48 MB instead of 70.
	echo "gpu-check-train: building $out/train-torch (CGO_ENABLED=0)"
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/train-torch" ./examples/train/torch
	if [[ $with_rayo == 1 ]]; then
		echo "gpu-check-train: building $out/rayo (CGO_ENABLED=0)"
		CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/rayo" ./cmd/rayo
	fi
	cp examples/train/torch/train.py "$out/train.py"
	echo "gpu-check-train: built; on the GPU machine run: $0 run $out"
	exit 0
fi
[[ $mode == run ]] || usage

cpu=0
if [[ ${1:-} == --cpu ]]; then
	cpu=1
	shift
fi
[[ $# -ge 1 ]] || usage
out=$(cd "$1" 2>/dev/null && pwd) || die "$1 is not a directory"
shift
BIN=$out/train-torch
SCRIPT=$out/train.py
[[ -x $BIN ]] || die "$BIN is not an executable file (run '$0 build $1' first)"
[[ -f $SCRIPT ]] || die "no $SCRIPT"
TIMEOUT=${GPU_CHECK_TRAIN_TIMEOUT:-600}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rayo-gpu-check-train.XXXXXX")
LOG=$TMP/example.log
# The head and the example, and so their workers and scripts, carry this
# marker in their environment: cleanup finds what is left by it in /proc.
MARKER=$(basename "$TMP")
HEAD_PID=
RUN_PID=

marked() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qx "GPU_CHECK_TRAIN_MARKER=$MARKER" && echo "${p#/proc/}"
	done
	return 0
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $RUN_PID ]] && kill -0 "$RUN_PID" 2>/dev/null; then
		kill -TERM "$RUN_PID" 2>/dev/null || true
	fi
	if [[ -n $HEAD_PID ]] && kill -0 "$HEAD_PID" 2>/dev/null; then
		kill -TERM "$HEAD_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$HEAD_PID" 2>/dev/null || break; sleep 0.2; done
	fi
	# Workers and scripts die with their parents; give them 10 s, then kill.
	local left
	for _ in $(seq 1 50); do
		left=$(marked)
		[[ -z $left ]] && break
		sleep 0.2
	done
	if [[ -n $left ]]; then
		echo "gpu-check-train: killing processes still running: $(echo $left)" >&2
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null || true
	fi
	if [[ $rc -ne 0 && -n $HEAD_PID && -s $TMP/head.log ]]; then
		echo "gpu-check-train: last lines of the head's output:" >&2
		tail -n 30 "$TMP/head.log" >&2 || true
	fi
	if [[ ${GPU_CHECK_KEEP_TMP:-0} == 1 ]]; then
		echo "gpu-check-train: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# find_python sets PY to an interpreter that imports torch, with CUDA
# unless --cpu, and torch_gpus to the GPUs it sees.
find_python() {
	local cand info probe
	probe='import sys, torch; ok = torch.cuda.is_available(); print(torch.__version__, ok, torch.cuda.device_count() if ok else 0); sys.exit(0 if ok or sys.argv[1] == "1" else 1)'
	PY=
	for cand in ${GPU_CHECK_PYTHON:-/usr/bin/python3 python3}; do
		if info=$("$cand" -c "$probe" "$cpu" 2>/dev/null); then
			PY=$(command -v "$cand")
			break
		fi
	done
	if [[ -z $PY && $cpu == 1 ]]; then
		echo "FAIL: no interpreter among '${GPU_CHECK_PYTHON:-/usr/bin/python3 python3}' imports torch (set GPU_CHECK_PYTHON)"
		exit 1
	elif [[ -z $PY ]]; then
		echo "FAIL: no NVIDIA GPU that torch can use: no interpreter among '${GPU_CHECK_PYTHON:-/usr/bin/python3 python3}' imports torch with CUDA available (set GPU_CHECK_PYTHON)"
		exit 1
	fi
	local version cuda
	read -r version cuda torch_gpus <<<"$info"
	echo "gpu-check-train: $PY: torch $version, CUDA available: $cuda, GPUs torch sees: $torch_gpus"
}

# How many GPUs (nvidia-smi -L; torch's count where it is missing), and
# so how many workers.
if [[ $cpu == 1 ]]; then
	gpus=0 workers=2 backend=gloo
	flags=(-workers 2 -device-check)
	find_python
else
	if command -v nvidia-smi >/dev/null; then
		nvidia-smi -L || true
		gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
		if [[ $gpus -lt 1 ]]; then
			echo "FAIL: no NVIDIA GPU on this machine (nvidia-smi -L lists none); '$0 run --cpu $out' checks the rest on CPU"
			exit 1
		fi
		find_python
	else
		echo "gpu-check-train: nvidia-smi is not on the PATH; counting GPUs with torch"
		find_python
		gpus=$torch_gpus
	fi
	workers=$((gpus < 4 ? gpus : 4)) backend=nccl
	flags=(-gpu -workers "$workers" -device-check)
fi

# The embedded cluster detects GPUs with nvidia-smi; without it, a head
# told how many.
if [[ ${GPU_CHECK_TRAIN_HEAD:-0} == 1 || ($cpu == 0 && -z $(command -v nvidia-smi)) ]]; then
	[[ -x $out/rayo ]] || die "$out/rayo is not an executable file: build with --with-rayo"
	echo "gpu-check-train: $out/rayo start --head --port 0 --num-gpus $gpus --temp-dir $TMP --block"
	env GPU_CHECK_TRAIN_MARKER="$MARKER" "$out/rayo" start --head --port 0 --num-gpus "$gpus" --temp-dir "$TMP" --block >"$TMP/head.log" 2>&1 &
	HEAD_PID=$!
	for _ in $(seq 1 300); do
		[[ -s $TMP/session_latest/address && -s $TMP/session_latest/token ]] && break
		kill -0 "$HEAD_PID" 2>/dev/null || die "the head exited before writing its address"
		sleep 0.2
	done
	[[ -s $TMP/session_latest/token ]] || die "no head address after 60 s"
	export RAYO_ADDRESS RAYO_TOKEN
	RAYO_ADDRESS=$(tr -d '[:space:]' <"$TMP/session_latest/address")
	RAYO_TOKEN=$(tr -d '[:space:]' <"$TMP/session_latest/token")
	echo "gpu-check-train: head at $RAYO_ADDRESS"
else
	unset RAYO_ADDRESS RAYO_TOKEN
fi

# From the temp dir, with no PYTHONPATH: the binary brings rayo.train.
cmd=("$BIN" "${flags[@]}" -script "$SCRIPT" -python "$PY" -storage "$TMP/runs" -max-failures 0 "$@")
echo "gpu-check-train: ${cmd[*]}"
(cd "$TMP" && exec env -u PYTHONPATH GPU_CHECK_TRAIN_MARKER="$MARKER" timeout -k 10 "$TIMEOUT" "${cmd[@]}") >"$LOG" 2>&1 &
RUN_PID=$!
tail -n +1 -f --pid="$RUN_PID" "$LOG"
set +e
wait "$RUN_PID"
rc=$?
set -e
RUN_PID=

# The checks, on the example's status and output.
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
case $rc in
0) pass "training finished with $workers worker(s); the model learned (the example checks its final accuracy)" ;;
124) fail "the example did not finish in ${TIMEOUT}s" ;;
*) fail "the example exited with status $rc" ;;
esac
if grep -q "^final accuracy .* on $backend\$" "$LOG"; then
	pass "the process group ran on $backend"
else
	fail "no 'final accuracy ... on $backend' line: the process group did not run on $backend"
fi
declare -A seen=()
for ((r = 0; r < workers; r++)); do
	line=$(grep -o "\[rank $r\] device check: .*" "$LOG" | tail -n 1 || true)
	if [[ -z $line ]]; then
		fail "rank $r printed no device check"
		continue
	fi
	read -r _ _ _ _ status vis count dev <<<"$line"
	vis=${vis#CUDA_VISIBLE_DEVICES=} count=${count#device_count=} dev=${dev#device=}
	if [[ $cpu == 1 ]]; then
		[[ $status == ok && $dev == cpu ]] && pass "rank $r: $line" || fail "rank $r: $line (want ok on cpu)"
	elif [[ $status != ok || $count != 1 || -z $vis || $vis == *,* || $dev != cuda:0 ]]; then
		fail "rank $r: $line (want CUDA_VISIBLE_DEVICES naming one device, device_count=1, device=cuda:0)"
	elif [[ -n ${seen[$vis]:-} ]]; then
		fail "rank $r: $line (rank ${seen[$vis]} has the same GPU)"
	else
		seen[$vis]=$r
		pass "rank $r sees exactly its GPU: $line"
	fi
done
if [[ $fails -gt 0 ]]; then
	echo "gpu-check-train: $fails check(s) failed"
	exit 1
fi
echo "gpu-check-train: all checks passed"
