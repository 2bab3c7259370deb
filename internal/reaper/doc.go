// Package reaper cleans up after an embedded cluster whose driver died.
//
// rayo.Init without an address runs a head and a node daemon inside the
// driver's process, and the node's workers as its children. A driver that
// returns from main after Shutdown leaves nothing behind. One that panics,
// calls os.Exit or is killed (SIGKILL included) runs no code of its own
// on the way out, yet would leave the node's shared-memory store file in
// /dev/shm (hundreds of MiB, until some node daemon starts again), its
// spill directory, and the Unix socket files of the head, the node, the
// driver and every worker.
//
// # Design
//
// Init starts a reaper: the driver's own executable (/proc/self/exe, so a
// binary replaced on disk meanwhile does not matter), re-executed with
// RAYO_REAPER=1 in its environment. The rayo package's init function sees
// that and runs Run before any code of the program's main package. The
// reaper gets the read end of a pipe as its file descriptor 3; only the
// driver holds the write end (close-on-exec, so no worker inherits it).
// Over the pipe the driver tells the reaper, as they come into being,
// what to remove: the store file, the spill directory, the socket files,
// and the node whose workers to stop.
//
// The kernel closes the write end however the driver ends, so the reaper
// reads end-of-file exactly when the driver is gone. After a clean
// Shutdown the driver writes "bye" first and the reaper exits at once.
// At end-of-file without "bye" it:
//
//  1. kills every process of the node's workers (found in /proc by the
//     RAYO_NODE_ID in their environment, this user's only) with SIGKILL
//     and waits for them to go; they also have PR_SET_PDEATHSIG, which
//     usually got there first;
//  2. removes the store file once its owner's lock is free (objstore
//     liveness rules: never a store someone still owns);
//  3. removes the spill directory;
//  4. removes each socket file that nobody listens on any more (a new
//     process on the same port keeps its own).
//
// It waits for each step with a deadline, since the kernel releases a dead
// process's files in no set order, then exits. The reaper runs in its own
// process group and ignores SIGINT and SIGHUP, so a Ctrl-C at the
// terminal, which kills the driver, leaves it to do its work.
//
// PR_SET_PDEATHSIG alone would have been simpler but cannot remove files,
// and a reaper made of the node's workers would not exist before the first
// task; a pipe to a process of our own covers every way of dying.
package reaper
