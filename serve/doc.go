// Package serve is rayo's model serving layer, as Ray Serve is Ray's: a
// Go type with a constructor becomes an HTTP endpoint whose replicas are
// actors spread over the cluster, composed with other deployments
// through handles.
//
// A deployment is registered at package level (Deployment), bound with
// its constructor's arguments into an application (Bind), and run
// (Run). A controller actor holds the applications' desired state in the
// head's key-value store and keeps the replicas running; an HTTP proxy
// actor routes requests by the longest route prefix to a replica of the
// application's ingress deployment, picked by power of two choices on
// in-flight requests, never above its MaxOngoingRequests (503 with
// Retry-After when every replica is full).
//
// Through a DeploymentHandle, Call runs a deployment's method and Result
// waits for its value; Stream runs one that returns an iter.Seq2 and
// takes its items as they are produced (StreamResponse, Items).
//
// A config file (Ray's serve deploy schema) deploys applications whose
// builders the binary registers (RegisterBuilder, Deploy); a program
// whose main calls Main runs under `rayo serve run`, and `rayo serve
// deploy|config|shutdown` reach the controller through the dashboard.
//
// Like Ray's libraries, package serve is built on the public rayo API
// alone; it imports nothing under rayo's internal/ (imports_test.go at
// the repository root checks this).
package serve
