// Package session manages the on-disk session directory that every rayo
// process on a machine writes to, and tells CLI commands where a running
// cluster is and which token it expects.
//
// Layout, under a temp dir (DefaultTempDir unless overridden):
//
//	<temp-dir>/
//	  session_latest -> session_<YYYY-MM-DD_HH-MM-SS_micro>_<pid>
//	  session_<YYYY-MM-DD_HH-MM-SS_micro>_<pid>/
//	    token      cluster token
//	    address    the head's "host:port", one line
//	    logs/      one log file per process
//	    pids/      <name>.pid for each daemon started on this machine: its
//	               pid, start time, boot ID and executable (Proc)
//	    binaries/  job binary cache
//
// All of it is private to the user: directories 0700, files 0600, set
// with Chmod whatever the umask. A temp dir that another user owns or may
// write to is refused (ErrUnsafeDir): whoever can rename its entries can
// swap session_latest. Prune removes old sessions, keeping the newest few
// and any whose daemons still run.
//
// session_latest is a relative symlink so the temp dir can be moved or
// bind-mounted elsewhere without breaking it, and it is repointed with a
// rename so readers never observe it missing. Files other processes poll
// (token, address, pid files) are also written via temp file + rename so a
// reader sees either the old content or the new, never a partial write.
//
// Directory names use UTC timestamps so that lexical order is chronological
// regardless of the local time zone or DST changes. The package only touches
// the filesystem; it does no logging. It has no mutex and keeps no state
// in memory: processes agree through the files alone (writes by rename, as
// above).
package session
