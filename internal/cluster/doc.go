// Package cluster is the one assembly of a rayo cluster's daemons, in the
// manner of etcd's server/embed: a Config (with Validate) says which of the
// head, its dashboard and a node daemon run in this process, Start brings
// them up in order and, when a later step fails, stops what the earlier
// ones started, and the returned Cluster stops them all. `rayo start` and
// rayo.Init's embedded cluster both use it (Ray's `ray start` and the
// local cluster `ray.init()` starts).
//
// It also holds the driver's side of joining a cluster (Ray's
// ray.init(address=...)): the head handshake that picks the node to submit
// through, the upload of the program's binary, and the driver's runtime
// registering its job.
package cluster
