// Package gcstest starts a real head in the test's own process, for the
// tests of the packages that talk to one (the dashboard, jobs, the CLI).
package gcstest
