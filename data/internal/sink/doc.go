// Package sink writes rayo Data's output files (Parquet, CSV, JSON lines)
// and commits them, as Ray Data's file datasinks (ray.data.Dataset's
// write_parquet, write_csv and write_json) do. It is pure Arrow and file
// I/O: the write tasks of the data package call WriteFile inside worker
// processes, and the driver calls Begin, Commit and Abort.
//
// # Commit protocol
//
// No partial file is ever visible at a final path. A write has an ID (made
// by the driver) and a staging directory <dir>/.rayo-staging-<id>/
// (mode 0700, hidden: readers skip names starting with "." or "_", as
// pyarrow does). WriteFile writes each file first to a temporary name next
// to its staging path (mode 0600), fsyncs it (Options.Sync), makes it 0644 (the mode
// pyarrow's files get under the usual umask 022) and renames it to its
// staging path, so a staged file is always complete. Commit moves the
// staged files to their final places under dir (creating hive directories
// 0755) and removes the staging directory; Abort removes the staging
// directory and everything in it.
//
// Modes follow Ray's SaveMode: ModeError (the default) refuses a directory
// that already holds output and never replaces a file (ErrExists);
// ModeOverwrite replaces the old part-* files, removing those the new
// write does not replace only after every new file is in place (Ray
// deletes the directory before writing); ModeAppend adds files whose names
// carry the write ID, so that appends never collide.
//
// # Names
//
// Files are named deterministically: part-<index:06d>.<ext> for an
// unpartitioned write (FileName, index assigned by the driver), and
// <col>=<value>/.../part-<task:06d>-<seq:04d>.<ext> for a partitioned one
// (PartitionFileName), with names and values escaped as Hive's
// FileUtils.escapePathName does and a null or empty value written as
// __HIVE_DEFAULT_PARTITION__.
//
// Every error wraps one of the package's sentinels (errors.Is) and, where
// it has one, names the file and the column at fault.
package sink
