// Package python runs the tests of rayo's Python package (python/rayo,
// pure Python: no Go code lives here) as part of `go test ./...`, so
// that the README's one test command covers both languages. The tests
// need Debian's python3-msgpack, python3-cloudpickle, python3-numpy and
// python3-pytest for /usr/bin/python3 (.ci/run installs them); without
// them the test is skipped, except under CI, where it fails.
package python
