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
package jobs
