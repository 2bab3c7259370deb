// Package jobs runs submitted jobs on the head's machine, Ray's job
// submission for rayo: an entrypoint (an argv) started as a child process
// of the head daemon, in its own process group and in a working directory
// unpacked from the package the submitter uploaded, with RAYO_ADDRESS,
// RAYO_TOKEN and, for a cluster with TLS, RAYO_CA_FINGERPRINT (of the CA
// in the head's session) set so that a rayo driver in it joins the
// cluster, with a certificate of the cluster CA.
//
// The Manager keeps one record per submission, written to the head's
// key-value store on every state change, so that a head restarted after a
// crash finds its jobs again: a job whose process still runs (same pid,
// same start time) is followed by polling; one whose process is gone is
// marked FAILED, its exit status unknown. A Manager that is closed (the
// head stopping on purpose) stops every job it runs.
//
// Pack and Unpack are the working directory's format: a gzipped tar,
// bounded in size, unpacked so that nothing lands outside the directory
// (no absolute paths, no "..", no symlink that leads out).
//
// # Locks
//
//	Manager.saveMu → Manager.mu
//
// Manager.mu guards the jobs and their records, and the closed flag. It is
// never held across a call to the head, but it is held across local
// process and file work, on purpose, so that no Stop or Close sees a job
// half started: startLocked (the log file's open and chmod, reading the
// cluster CA, and the fork and exec of the entrypoint), stopLocked's
// signal to a job's process group (after reading /proc to check the pid
// is still the job's), and load's /proc checks.
//
// Manager.saveMu orders the writes of records to the head: save holds it
// across the key-value put (an RPC, bounded to 5 s), on purpose, so that
// the last write is the latest state; it copies the record under
// Manager.mu and lets that go before the call. Nothing takes saveMu while
// holding Manager.mu.
package jobs
