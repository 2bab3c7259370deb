package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"github.com/rayo-dev/rayo/internal/pki"
)

// Mutual TLS between machines. A process whose Dial, NewPool or NewServer
// got WithTLS encrypts every TCP connection with TLS 1.3, and both ends
// present a certificate of the cluster's CA: the client checks the
// server's, the server the client's. Unix sockets within a machine stay
// plain (the kernel carries them, and their directory and owner are
// checked). Certificates are checked against the CA only, not by name;
// see internal/pki for why. The token is still checked at the hello,
// inside TLS, so a certificate alone admits no one.
//
// One exception lets a node join: the head (ServeCertificates) admits a
// client without a certificate, and after its hello proved the token,
// serves that connection MethodSignCertificate and nothing else. The
// joining client (JoinTLS) checks, during the TLS handshake and so before
// it sends anything derived from the token, that the head's chain ends at
// a CA with the fingerprint it was given.

// Transport TLS errors; test them with errors.Is.
var (
	// ErrPeerCertificate reports a TLS peer that presented no certificate
	// of the cluster's CA: it is refused.
	ErrPeerCertificate = errors.New("rpc: TLS peer has no certificate of the cluster's CA")
	// ErrCertificateRefused reports that the peer refused this process's
	// certificate: it has none, or one of another CA.
	ErrCertificateRefused = errors.New("rpc: the peer refused this process's TLS certificate (none, or not of the cluster's CA)")
	// ErrTLSRequired reports a connection without TLS to a port that
	// requires it: set the cluster's CA fingerprint (RAYO_CA_FINGERPRINT,
	// --ca-fingerprint) or TLS files.
	ErrTLSRequired = errors.New("rpc: the peer requires TLS on TCP: give the cluster's CA fingerprint (RAYO_CA_FINGERPRINT) or TLS files (RAYO_TLS_CERT, RAYO_TLS_KEY, RAYO_TLS_CA)")
)

// Wire codes of the TLS refusals (see Error.Is).
const (
	CodeTLSRequired         = "tls_required"
	CodeCertificateRequired = "certificate_required"
)

// MethodSignCertificate is the head's method that signs a joining
// process's certificate request (see ServeCertificates).
const MethodSignCertificate = "rpc.SignCertificate"

// SignRequest carries a PEM certificate signing request.
type SignRequest struct {
	CSR []byte `msgpack:"csr"`
}

// SignReply carries the signed certificate and the CA's, PEM-encoded.
type SignReply struct {
	Cert []byte `msgpack:"cert"`
	CA   []byte `msgpack:"ca"`
}

// Option configures Dial, NewPool and NewServer.
type Option func(*options)

type options struct {
	tls *TLS
}

// WithTLS encrypts the TCP connections of a client, pool or server with t
// (nil: plain TCP, for a cluster started without TLS).
func WithTLS(t *TLS) Option { return func(o *options) { o.tls = t } }

func applyOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// TLS is a process's TLS identity in the cluster: its certificate and
// key, and the CA every member's certificate chains to. A TLS made by
// JoinTLS's first step has no certificate yet and only dials.
type TLS struct {
	certPEM, keyPEM, caPEM []byte
	cert                   *tls.Certificate
	roots                  *x509.CertPool
	// fingerprint, on a TLS without a certificate, is the CA fingerprint
	// the server's chain must end at.
	fingerprint string
	client      *tls.Config
}

// NewTLS makes a TLS identity from PEM: a certificate (optionally followed
// by intermediates), its key, and the CA certificate(s) to trust.
func NewTLS(certPEM, keyPEM, caPEM []byte) (*TLS, error) {
	if err := pki.Verify(certPEM, keyPEM, caPEM); err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", pki.ErrBadCertificate, err)
	}
	// Send the CA along with the certificate, so that a joining client
	// can check the chain's end against the fingerprint it was given.
	if ca, err := pki.ParseCertificate(caPEM); err == nil && !chainHas(cert.Certificate, ca.Raw) {
		cert.Certificate = append(cert.Certificate, ca.Raw)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	t := &TLS{certPEM: certPEM, keyPEM: keyPEM, caPEM: caPEM, cert: &cert, roots: roots}
	t.client = t.clientConfig()
	return t, nil
}

func chainHas(chain [][]byte, der []byte) bool {
	for _, c := range chain {
		if string(c) == string(der) {
			return true
		}
	}
	return false
}

// Fingerprint is the CA's fingerprint ("" for an unreadable CA).
func (t *TLS) Fingerprint() string {
	if t.cert == nil {
		return t.fingerprint
	}
	ca, err := pki.ParseCertificate(t.caPEM)
	if err != nil {
		return ""
	}
	return pki.Fingerprint(ca.Raw)
}

// CAPEM is the CA certificate, PEM-encoded.
func (t *TLS) CAPEM() []byte { return t.caPEM }

// Environment variables that hand a node's identity to its workers (the
// environment is private to the user, as the token's RAYO_TOKEN is; argv
// is not).
const (
	envCertPEM = "RAYO_TLS_CERT_PEM"
	envKeyPEM  = "RAYO_TLS_KEY_PEM"
	envCAPEM   = "RAYO_TLS_CA_PEM"
)

// Environ is t as environment variables for a child process (nil for a
// nil t), read back with TLSFromEnviron.
func (t *TLS) Environ() []string {
	if t == nil || t.cert == nil {
		return nil
	}
	return []string{envCertPEM + "=" + string(t.certPEM), envKeyPEM + "=" + string(t.keyPEM), envCAPEM + "=" + string(t.caPEM)}
}

// TLSFromEnviron reads what Environ wrote (nil, nil when it is not set)
// and removes it from this process's environment, so that the programs a
// worker runs do not inherit the key.
func TLSFromEnviron() (*TLS, error) {
	cert, key, ca := os.Getenv(envCertPEM), os.Getenv(envKeyPEM), os.Getenv(envCAPEM)
	for _, k := range []string{envCertPEM, envKeyPEM, envCAPEM} {
		_ = os.Unsetenv(k)
	}
	if cert == "" && key == "" && ca == "" {
		return nil, nil
	}
	return NewTLS([]byte(cert), []byte(key), []byte(ca))
}

func (t *TLS) clientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is checked by VerifyConnection, against the cluster's
		// CA and not by name (see internal/pki): Go's own check would
		// want the address among the certificate's names.
		InsecureSkipVerify: true, //nolint:gosec // verified below
		VerifyConnection:   t.verifyServer,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if t.cert == nil {
				return &tls.Certificate{}, nil // joining: none yet
			}
			return t.cert, nil
		},
		SessionTicketsDisabled: true,
	}
}

// serverConfig: certless lets clients without a certificate through the
// handshake (the head, for MethodSignCertificate only).
func (t *TLS) serverConfig(certless bool) *tls.Config {
	auth := tls.RequireAnyClientCert
	if certless {
		auth = tls.RequestClientCert
	}
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{*t.cert},
		ClientAuth:             auth,
		VerifyConnection:       t.verifyClient,
		SessionTicketsDisabled: true,
	}
}

func (t *TLS) verifyClient(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // only with RequestClientCert; see Server.certless
	}
	return t.verifyChain(cs.PeerCertificates)
}

func (t *TLS) verifyServer(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return ErrPeerCertificate
	}
	if t.cert != nil {
		return t.verifyChain(certs)
	}
	// Joining: the CA is the chain's certificate with the fingerprint we
	// were given; the leaf must be signed by it.
	for _, c := range certs[1:] {
		if pki.CheckFingerprint(c, t.fingerprint) == nil {
			roots := x509.NewCertPool()
			roots.AddCert(c)
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return fmt.Errorf("%w: %v", ErrPeerCertificate, err)
			}
			return nil
		}
	}
	got := "none (the peer sent no CA certificate)"
	if len(certs) > 1 {
		got = pki.Fingerprint(certs[len(certs)-1].Raw)
	}
	want, _ := pki.NormalizeFingerprint(t.fingerprint)
	return &pki.FingerprintError{Want: want, Got: got}
}

func (t *TLS) verifyChain(certs []*x509.Certificate) error {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: %v", ErrPeerCertificate, err)
	}
	return nil
}

// dialTLS runs the client's TLS handshake on a new TCP connection, before
// anything of the hello is sent: a server that fails the check learns
// nothing.
func dialTLS(ctx context.Context, nc net.Conn, t *TLS, addr string) (net.Conn, error) {
	tc := tls.Client(nc, t.client)
	hctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = nc.Close()
		var fe *pki.FingerprintError
		if errors.As(err, &fe) || errors.Is(err, ErrPeerCertificate) {
			return nil, fmt.Errorf("rpc: %s: %w", addr, err)
		}
		return nil, fmt.Errorf("rpc: TLS handshake with %s (a cluster started without TLS?): %w", addr, err)
	}
	return &tlsClientConn{Conn: tc}, nil
}

// tlsClientConn notes the alert a server sends when it refuses this
// client's certificate: TLS 1.3 delivers it at the client's first read,
// the hello's, which reports it only as a failed hello.
type tlsClientConn struct {
	*tls.Conn
	refused atomic.Pointer[net.OpError]
}

func (c *tlsClientConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		var oe *net.OpError
		// crypto/tls reports a received alert as an OpError with this Op;
		// the alert's own type is not exported.
		if errors.As(err, &oe) && oe.Op == "remote error" {
			c.refused.Store(oe)
		}
	}
	return n, err
}

// tlsRefusal turns a failed hello on a TLS connection whose server sent
// an alert into ErrCertificateRefused; other errors pass unchanged.
func tlsRefusal(nc net.Conn, err error) error {
	if c, ok := nc.(*tlsClientConn); ok {
		if oe := c.refused.Load(); oe != nil {
			return fmt.Errorf("rpc: %s: %w: %v", c.RemoteAddr(), ErrCertificateRefused, oe.Err)
		}
	}
	return err
}

// serverTLS is a server's TLS state.
type serverTLS struct {
	t *TLS
	// certless is the one method a client without a certificate may call
	// ("" : such clients are refused in the handshake).
	certless string
}

// wrapListener makes a TCP listener's connections TLS when the server has
// TLS; Unix listeners stay as they are.
func (s *Server) wrapListener(ln net.Listener) net.Listener {
	if s.tls == nil {
		return ln
	}
	if _, ok := ln.Addr().(*net.TCPAddr); !ok {
		return ln
	}
	s.mu.Lock()
	cfg := s.tls.t.serverConfig(s.tls.certless != "")
	s.mu.Unlock()
	return &tlsListener{Listener: ln, cfg: cfg}
}

type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

// Accept returns at once: the handshake runs on the connection's first
// read, the hello's, under its deadline, on the connection's goroutine.
func (l *tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsServerConn{Conn: tls.Server(nc, l.cfg)}, nil
}

type tlsServerConn struct {
	*tls.Conn
	handshook atomic.Bool
}

func (c *tlsServerConn) Read(b []byte) (int, error) {
	if !c.handshook.Load() {
		if err := c.handshake(); err != nil {
			return 0, err
		}
		c.handshook.Store(true)
	}
	return c.Conn.Read(b)
}

func (c *tlsServerConn) handshake() error {
	err := c.Conn.Handshake()
	if err == nil {
		return nil
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.Conn != nil {
		// A client without TLS (its hello's bytes are no TLS record):
		// tell it so in its own framing, which it reads as the hello's
		// answer.
		_ = writeHelloFrame(rh.Conn, &frame{Type: frameHelloAck, Err: &Error{Code: CodeTLSRequired, Message: ErrTLSRequired.Error()}}, nil)
		return fmt.Errorf("%w: the client spoke without TLS", ErrTLSRequired)
	}
	return fmt.Errorf("TLS handshake: %w", err)
}

// certlessPeer reports a TLS connection whose client showed no certificate.
func certlessPeer(nc net.Conn) bool {
	c, ok := nc.(*tlsServerConn)
	return ok && len(c.ConnectionState().PeerCertificates) == 0
}

// refuseCertless reports whether a call from a peer without a
// certificate must be refused: all but the one method such peers may call.
func (s *Server) refuseCertless(p *Peer, method string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return p.certless && (s.tls == nil || method != s.tls.certless)
}

var errCertificateRequired = &Error{Code: CodeCertificateRequired, Message: ErrCertificateRefused.Error() + ": this server serves a client without a certificate only " + MethodSignCertificate}

// CertSigner signs certificate requests (a *pki.CA).
type CertSigner interface {
	SignCSR(csrPEM []byte) ([]byte, error)
	CertPEM() []byte
}

// ServeCertificates makes s sign the certificate requests of clients that
// proved the token at the hello: the one call s serves to a TLS client
// without a certificate. Call it before Serve.
func ServeCertificates(s *Server, ca CertSigner) {
	s.mu.Lock()
	if s.tls != nil {
		s.tls.certless = MethodSignCertificate
	}
	s.mu.Unlock()
	Register(s, MethodSignCertificate, func(_ context.Context, req *SignRequest) (*SignReply, error) {
		cert, err := ca.SignCSR(req.CSR)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		return &SignReply{Cert: cert, CA: ca.CertPEM()}, nil
	})
}

// JoinTLS gets this process a certificate from the head at addr, which
// must present a chain ending at a CA with the given fingerprint (checked
// in the TLS handshake, before the hello proves the token). The key is
// made here and never leaves the process. name ends up in the
// certificate's common name, for the operator's eyes.
func JoinTLS(ctx context.Context, addr, token, fingerprint, name string) (*TLS, error) {
	fp, err := pki.NormalizeFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	boot := &TLS{fingerprint: fp}
	boot.client = boot.clientConfig()
	cl, err := Dial(ctx, addr, token, WithTLS(boot))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	csr, key, err := pki.NewCSR(name)
	if err != nil {
		return nil, err
	}
	var rep SignReply
	if err := cl.Call(ctx, MethodSignCertificate, &SignRequest{CSR: csr}, &rep); err != nil {
		return nil, fmt.Errorf("rpc: getting a certificate from the head at %s: %w", addr, err)
	}
	// Over a Unix socket (the head's machine) no handshake checked the
	// CA: check the one the head sent.
	ca, err := pki.ParseCertificate(rep.CA)
	if err != nil {
		return nil, err
	}
	if err := pki.CheckFingerprint(ca, fp); err != nil {
		return nil, fmt.Errorf("rpc: %s: %w", addr, err)
	}
	return NewTLS(rep.Cert, key, rep.CA)
}

// Operator settings, as Ray's RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY and
// RAY_TLS_CA_CERT, and the CA fingerprint to join with.
const (
	EnvTLSCert       = "RAYO_TLS_CERT"
	EnvTLSKey        = "RAYO_TLS_KEY"
	EnvTLSCA         = "RAYO_TLS_CA"
	EnvCAFingerprint = "RAYO_CA_FINGERPRINT"
)

// TLSSettings say how a process that joins a cluster finds its TLS
// identity; the first that applies wins.
type TLSSettings struct {
	// CertFile, KeyFile and CAFile are the operator's files.
	CertFile, KeyFile, CAFile string
	// Fingerprint is the cluster CA's, to join with the token (JoinTLS).
	Fingerprint string
	// LocalCAFile is the CA certificate a head on this machine wrote for
	// the cluster at the address joined; its fingerprint is trusted.
	LocalCAFile string
}

// WithEnv fills the settings left empty from RAYO_TLS_CERT, RAYO_TLS_KEY,
// RAYO_TLS_CA and RAYO_CA_FINGERPRINT.
func (s TLSSettings) WithEnv() TLSSettings {
	fill := func(v *string, env string) {
		if *v == "" {
			*v = strings.TrimSpace(os.Getenv(env))
		}
	}
	fill(&s.CertFile, EnvTLSCert)
	fill(&s.KeyFile, EnvTLSKey)
	fill(&s.CAFile, EnvTLSCA)
	fill(&s.Fingerprint, EnvCAFingerprint)
	return s
}

// Resolve returns the identity the settings give, joining the cluster at
// addr if need be; nil (and no error) when none applies: the process
// talks to the cluster without TLS, which a cluster with TLS refuses
// (ErrTLSRequired).
func (s TLSSettings) Resolve(ctx context.Context, addr, token, name string) (*TLS, error) {
	if s.CertFile != "" || s.KeyFile != "" || s.CAFile != "" {
		cert, key, ca, err := pki.LoadFiles(s.CertFile, s.KeyFile, s.CAFile)
		if err != nil {
			return nil, err
		}
		return NewTLS(cert, key, ca)
	}
	fp := s.Fingerprint
	if fp == "" && s.LocalCAFile != "" {
		b, err := os.ReadFile(s.LocalCAFile)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil // the local cluster runs without TLS
			}
			return nil, fmt.Errorf("rpc: %w", err)
		}
		ca, err := pki.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		fp = pki.Fingerprint(ca.Raw)
	}
	if fp == "" {
		return nil, nil
	}
	return JoinTLS(ctx, addr, token, fp, name)
}
