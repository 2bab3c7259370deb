// Package cli implements the rayo command: start, stop and status today,
// with Ray's verbs. cmd/rayo only calls Main.
package cli
