// Package python holds rayo's Python package (python/rayo, pure Python)
// for Go code, and runs its tests as part of `go test ./...`.
//
// The package's .py files are embedded in every binary that imports this
// package: Package returns them, and Dir extracts them once per process
// into a private, content-named cache directory to put on a Python
// child's PYTHONPATH. That is how rayo Train's training scripts find
// rayo.train (train/internal/proc) on a machine where rayo's Python
// package was never installed, in the version of the Go binary that
// serves them.
//
// The tests (pytest_test.go) run the Python suite, so that the README's
// one test command covers both languages. They need Debian's
// python3-msgpack, python3-cloudpickle, python3-numpy and python3-pytest
// for /usr/bin/python3 (.ci/run installs them); without them the test is
// skipped, except under CI, where it fails.
package python
