// Package microbench is `rayo microbenchmark`: Ray's core microbenchmark
// rows (the names and definitions of Ray's ray_perf.py), run on the
// embedded cluster or a given one, plus the physical floor measured in
// the same run (a raw loopback TCP round trip and a one-core memcpy) so
// that figures can be read as ratios on any machine.
//
// Its tasks and actors are registered at package level: the rayo binary
// that runs the benchmark is also its own worker.
package microbench
