package rayo

import (
	"context"
	"net"
	"os"

	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// embeddedTLS is the embedded cluster's TLS identity: one certificate of
// a CA made for this process alone (a couple of milliseconds), shared by
// its head, node daemon, driver and, through the node, its workers.
//
// The embedded cluster listens on loopback only, and its processes talk
// over Unix sockets, so TLS protects little there. It uses TLS anyway:
// one code path for every cluster (a TCP connection of rayo's is TLS
// unless a head was started with --tls=false) is simpler to trust and is
// exercised by every test, and what it costs is the CA at start and a
// handshake for the rare TCP connection within the machine.
func embeddedTLS() (*rpc.TLS, error) {
	ca, err := pki.NewCA()
	if err != nil {
		return nil, err
	}
	cert, key, err := ca.Issue("embedded")
	if err != nil {
		return nil, err
	}
	return rpc.NewTLS(cert, key, ca.CertPEM())
}

// joinTLS is the TLS identity of a driver that joins the cluster at addr:
// the operator's files (RAYO_TLS_CERT, RAYO_TLS_KEY, RAYO_TLS_CA), or a
// certificate the head signs once it showed the CA fingerprint of
// RAYO_CA_FINGERPRINT (or, on the head's machine, of its session's CA).
// nil for a cluster without TLS.
func joinTLS(ctx context.Context, tempDir, addr, token string) (*rpc.TLS, error) {
	s := rpc.TLSSettings{}.WithEnv()
	if s.Fingerprint == "" {
		s.LocalCAFile = session.CAFile(tempDir, addr)
	}
	return s.Resolve(ctx, addr, token, "driver")
}

// listenNear is the address a driver or worker serves on: the IP of the
// node it works through when that IP is this machine's (so that processes
// on other machines reach it), else loopback.
func listenNear(nodeAddr string) string {
	host, _, err := net.SplitHostPort(nodeAddr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || ip.IsUnspecified() {
		return ""
	}
	if ip.IsLoopback() {
		return net.JoinHostPort(host, "0")
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return net.JoinHostPort(host, "0")
		}
	}
	return ""
}

// workerTLS is a worker's identity: its node's, from the environment.
func workerTLS() *rpc.TLS {
	id, err := rpc.TLSFromEnviron()
	if err != nil {
		// A worker without it would be refused by its peers on TCP: say
		// why rather than fail later.
		os.Stderr.WriteString("rayo worker: the node's TLS identity is unreadable: " + err.Error() + "\n")
		os.Exit(2)
	}
	return id
}
