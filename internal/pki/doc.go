// Package pki makes and keeps the certificates that encrypt traffic
// between a cluster's machines (mutual TLS, see internal/rpc/tls.go).
//
// The head keeps a cluster CA (an ECDSA P-256 key and a self-signed
// certificate) in its data directory: the directory 0700, the key 0600,
// made at the first `rayo start --head` and reused by a head that
// restarts on the same directory. Its fingerprint (SHA-256 of the CA
// certificate) is what a joining node or driver is told out of band, in
// the join command the head prints: it checks the head's chain against it
// before it proves knowledge of the token, then sends a certificate
// signing request (its key never leaves it) and gets a certificate for
// its own key.
//
// Certificates are checked against the CA only, never by name: every
// holder of a cluster certificate is a member of the cluster and may
// serve any role (head, node, worker, driver), and processes move between
// addresses (NAT, several interfaces, a head restarted elsewhere), so a
// name check would add no authority and would break joins. The cluster
// token is still checked at every connection's hello, inside TLS.
//
// Operators may bring their own files instead (LoadFiles): a certificate
// and key for the process and the CA that signed every member's.
package pki
