// Package proc runs one rayo Train worker's training script: a Python
// child process with torchrun's environment, whose rayo.train calls
// (report, get_checkpoint, get_context, get_dataset_shard) it serves
// through a Handler that the train package implements.
//
// Run starts `python -m rayo.train._launch script args...` (or `-m
// module`), so that an unmodified DDP script runs. The child gets this
// process's environment less rayo's secrets (RAYO_TOKEN, RAYO_TLS_*,
// RAYO_BRIDGE_*), plus Spec.Env, PYTHONUNBUFFERED=1, PYTHONSAFEPATH=1
// (the launcher restores sys.path[0] and removes it again), the rayo
// Python package first on PYTHONPATH (see below), RAYO_TRAIN_FD=3 (one
// end of a Unix socket pair) and RAYO_TRAIN_COLLECTIVE_TIMEOUT (seconds)
// when Spec.CollectiveTimeout is set: the launcher gives
// torch.distributed.init_process_group that timeout when the script
// passes none, so that a peer that never joins a collective fails the
// script within it (a *ScriptError with CollectiveTimeout) instead of
// hanging it for torch's default of 30 minutes.
//
// The child leads its own process group and gets SIGKILL if this process
// dies (Pdeathsig). When ctx ends, Run sends SIGTERM to the group and
// SIGKILL after Spec.StopGrace; when the script exits, what it left in
// its group is killed. Run returns once the child is reaped, its server
// stopped and its output written: no goroutine outlives it. Every line
// of the child's stdout and stderr goes to Spec.Stdout and Spec.Stderr
// after Spec.Prefix; a line longer than 64 KiB without a newline goes out
// in pieces.
//
// # PYTHONPATH
//
// $RAYO_PYTHONPATH, when set, goes first (a checkout's python/ directory,
// for development). Otherwise a PYTHONPATH (of Spec.Env, else inherited)
// with an entry holding rayo/train/_launch.py is kept as it is, and
// without one, the package embedded in this binary (package
// github.com/rayo-dev/rayo/python) is extracted once per process into a
// private, content-named cache directory and put first.
//
// # Protocol
//
// On the socket pair, the script sends one JSON object per line,
// {"id": N, "op": OP, ...}, and waits for the reply, {"id": N, "ok": ...}
// or {"id": N, "error": {"type": T, "message": M}} (the script raises
// rayo.train.TrainError); a reply with "nbytes" is followed by that many
// raw bytes. The ops:
//
//	context                          -> the Handler's Context map
//	report {metrics, checkpoint}     -> {}  (checkpoint: a directory or null)
//	checkpoint                       -> {"path": dir or null}
//	shard {name}                     -> {}  (the shard exists)
//	shard_next {name, batch_size, start, epoch}
//	                                 -> a batch, or {"done": true}
//	fail {type, message, traceback, collective_timeout}
//	                                 -> {}  (the launcher, before it exits 1)
//
// A batch is {"rows", "epoch", "columns": [{"name", "dtype", "shape",
// "offset"}...]} and a payload: each numeric column's bytes at its
// offset (64-byte aligned) in native byte order, as numpy's dtype
// (int8-64, uint8-64, float16-64; bool one byte each; a fixed_size_list
// one more dimension); a string column has dtype "str" and its "values"
// in the header. Nulls become NaN in floats and None in strings and are
// an ErrUnsupportedColumn elsewhere, as other types are. start begins an
// epoch (Shard.Batches) and answers with its first batch and the epoch's
// id, which the following requests name. Requests are served one at a
// time.
//
// Metrics are JSON, but for non-finite floats, which the script sends as
// {"__float__": "nan" | "inf" | "-inf"} and Report receives as float64.
//
// This package imports no rayo internals: the train library is built on
// rayo's public API (imports_test.go at the repository's root checks).
package proc
