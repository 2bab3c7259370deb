package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// tlsFlags are rayo start's TLS settings.
type tlsFlags struct {
	enabled       bool
	cert, key, ca string
	fingerprint   string
}

func addTLSFlags(fl *pflag.FlagSet, f *tlsFlags) {
	fl.BoolVar(&f.enabled, "tls", true, "with --head: encrypt every TCP connection between the cluster's processes with mutual TLS, with a cluster CA kept in --head-data-dir (--tls=false: plain TCP, for a network you trust)")
	fl.StringVar(&f.cert, "tls-cert", "", "this daemon's TLS certificate (PEM), signed by --tls-ca, instead of one from the cluster CA (default: RAYO_TLS_CERT)")
	fl.StringVar(&f.key, "tls-key", "", "the key of --tls-cert (PEM, mode 0600) (default: RAYO_TLS_KEY)")
	fl.StringVar(&f.ca, "tls-ca", "", "the CA certificate (PEM) that signed every member's --tls-cert (default: RAYO_TLS_CA)")
	fl.StringVar(&f.fingerprint, "ca-fingerprint", "", "when joining: the SHA-256 fingerprint of the cluster's CA, as rayo start --head prints it; the head is checked against it before the token is used, then signs this node's certificate (default: RAYO_CA_FINGERPRINT, then the session of a head on this machine)")
}

// headTLS is the head's TLS identity and, unless the operator brought
// files, the cluster CA that signs joining processes' certificates. The
// CA's certificate goes into the session directory, for the processes of
// this machine. Both nil with --tls=false.
func headTLS(f *tlsFlags, dataDir string, sess *session.Dir) (*rpc.TLS, *pki.CA, error) {
	caFile := filepath.Join(sess.Path, session.CAFileName)
	s := rpc.TLSSettings{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca}.WithEnv()
	files := s.CertFile != "" || s.KeyFile != "" || s.CAFile != ""
	if !f.enabled {
		if files {
			return nil, nil, errors.New("--tls=false with TLS files: choose one")
		}
		_ = os.Remove(caFile) // a recovered session's, from a run with TLS
		return nil, nil, nil
	}
	if files {
		_ = os.Remove(caFile)
		id, err := s.Resolve(context.Background(), "", "", "head")
		return id, nil, err
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(dataDir, "tls"))
	if err != nil {
		return nil, nil, err
	}
	cert, key, err := ca.Issue("head")
	if err != nil {
		return nil, nil, err
	}
	id, err := rpc.NewTLS(cert, key, ca.CertPEM())
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		return nil, nil, err
	}
	return id, ca, nil
}

// joinTLS is the TLS identity of a process that joins the cluster at
// addr: the operator's files, or a certificate the head signs after it
// proved its CA's fingerprint (the given one, else the one of the head's
// session on this machine). nil when the cluster runs without TLS (as
// far as this machine can tell: a head with TLS then refuses the
// connection with rpc.ErrTLSRequired).
func joinTLS(ctx context.Context, f *tlsFlags, tempDir, addr, token, name string) (*rpc.TLS, error) {
	s := rpc.TLSSettings{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, Fingerprint: f.fingerprint}.WithEnv()
	if s.Fingerprint == "" {
		s.LocalCAFile = session.CAFile(tempDir, addr)
	}
	id, err := s.Resolve(ctx, addr, token, name)
	if err != nil {
		return nil, fmt.Errorf("TLS for the cluster at %s: %w", addr, err)
	}
	return id, nil
}

// dialOptions are the options a CLI command dials the head at addr with.
func dialOptions(ctx context.Context, tempDir, addr, token string) ([]rpc.Option, error) {
	id, err := joinTLS(ctx, &tlsFlags{}, tempDir, addr, token, "rayo-cli")
	if err != nil || id == nil {
		return nil, err
	}
	return []rpc.Option{rpc.WithTLS(id)}, nil
}
