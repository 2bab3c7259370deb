package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sentinel errors; test them with errors.Is.
var (
	// ErrFingerprintMismatch reports a CA whose fingerprint is not the one
	// expected (see FingerprintError).
	ErrFingerprintMismatch = errors.New("pki: CA fingerprint mismatch")
	// ErrBadFingerprint reports a fingerprint that is not 32 bytes of hex.
	ErrBadFingerprint = errors.New("pki: malformed CA fingerprint (want 64 hex digits, as `rayo start --head` prints)")
	// ErrBadCertificate reports unreadable or unusable PEM material.
	ErrBadCertificate = errors.New("pki: bad certificate or key")
	// ErrKeyPermissions reports a private key file readable by others.
	ErrKeyPermissions = errors.New("pki: private key file is readable by other users")
)

// FingerprintError names both fingerprints of a mismatch.
type FingerprintError struct {
	Want, Got string
}

func (e *FingerprintError) Error() string {
	return fmt.Sprintf("pki: the peer's CA has fingerprint %s, but %s was expected (wrong cluster, or someone on the path)", e.Got, e.Want)
}

// Is makes errors.Is(err, ErrFingerprintMismatch) hold.
func (e *FingerprintError) Is(target error) bool { return target == ErrFingerprintMismatch }

const (
	// CACertFile and CAKeyFile are the CA's files in the head's data
	// directory (see LoadOrCreateCA).
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	// caValidity: the CA, and every certificate it issues, lasts this
	// long. Certificates are not rotated; the token, checked at every
	// hello inside TLS, remains what admits a peer, so a long life costs
	// little, and a node is never cut off by an expiry nobody scheduled.
	caValidity = 10 * 365 * 24 * time.Hour
	// skew lets a certificate be valid on a machine whose clock is a bit
	// behind the head's.
	skew = time.Hour
)

// CA is a cluster certificate authority.
type CA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

// NewCA makes a CA in memory (the embedded cluster's, say).
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "rayo cluster CA", Organization: []string{"rayo"}},
		NotBefore:             now.Add(-skew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", der)}, nil
}

// LoadOrCreateCA returns the CA kept in dir, making one (and dir, 0700)
// when there is none. The key file must not be readable by others.
func LoadOrCreateCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	if cerr == nil && kerr == nil {
		if err := checkPrivate(keyPath); err != nil {
			return nil, err
		}
		return parseCA(certPEM, keyPEM)
	}
	if !errors.Is(cerr, os.ErrNotExist) || !errors.Is(kerr, os.ErrNotExist) {
		// One file without the other: refuse rather than make a new CA
		// that every node's certificate would disagree with.
		return nil, fmt.Errorf("%w: %s holds only one of %s and %s; restore it or remove both to make a new CA", ErrBadCertificate, dir, CACertFile, CAKeyFile)
	}
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, err
	}
	// The key first: a certificate without its key is refused above,
	// and a crash between the two writes leaves only the key, also refused.
	if err := writeFile(keyPath, pemBlock("PRIVATE KEY", kder)); err != nil {
		return nil, err
	}
	if err := writeFile(certPath, ca.certPEM); err != nil {
		return nil, err
	}
	return ca, nil
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: the CA certificate is not a CA, or not of this key", ErrBadCertificate)
	}
	return &CA{cert: cert, key: key, certPEM: certPEM}, nil
}

// CertPEM is the CA's certificate, PEM-encoded.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Fingerprint is the CA certificate's SHA-256 fingerprint.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert.Raw) }

// SignCSR checks a PEM certificate signing request and returns a
// certificate, PEM-encoded, for its public key. Only the key and the
// common name are taken from the request: names and extensions it asks
// for are ignored (see the package comment).
func (ca *CA) SignCSR(csrPEM []byte) ([]byte, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: not a PEM certificate request", ErrBadCertificate)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCertificate, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: request signature: %v", ErrBadCertificate, err)
	}
	if err := checkKeyType(csr.PublicKey); err != nil {
		return nil, err
	}
	name := csr.Subject.CommonName
	if len(name) > 64 {
		name = name[:64]
	}
	return ca.issue(csr.PublicKey, name)
}

// Issue makes a key and a certificate for a process of this machine (the
// head's own, the node daemon it starts), both PEM-encoded.
func (ca *CA) Issue(name string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = ca.issue(&key.PublicKey, name)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, pemBlock("PRIVATE KEY", kder), nil
}

func (ca *CA) issue(pub any, name string) ([]byte, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"rayo"}},
		NotBefore:    now.Add(-skew),
		NotAfter:     ca.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Every process both serves and dials.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: issuing a certificate: %w", err)
	}
	return pemBlock("CERTIFICATE", der), nil
}

// NewCSR makes a key and a certificate signing request for it, both
// PEM-encoded: what a joining node sends the head (the key stays here).
func NewCSR(name string) (csrPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE REQUEST", der), pemBlock("PRIVATE KEY", kder), nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes, in lower-case
// hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// FileFingerprint is the fingerprint of the certificate in a PEM file
// (an error matching fs.ErrNotExist when there is none).
func FileFingerprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	cert, err := ParseCertificate(b)
	if err != nil {
		return "", fmt.Errorf("the certificate in %s: %w", path, err)
	}
	return Fingerprint(cert.Raw), nil
}

// NormalizeFingerprint accepts a fingerprint as rayo prints it, or as
// openssl does ("SHA256 Fingerprint=AB:CD:..."), and returns rayo's form.
func NormalizeFingerprint(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if rest, ok := strings.CutPrefix(s, "sha256"); ok {
		if _, v, ok := strings.Cut(rest, "="); ok {
			rest = v // openssl's "SHA256 Fingerprint=..."
		}
		s = rest
	}
	s = strings.NewReplacer(":", "", " ", "").Replace(s)
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%w: %q", ErrBadFingerprint, s)
	}
	return s, nil
}

// CheckFingerprint returns a *FingerprintError unless cert's fingerprint
// is want (in a form NormalizeFingerprint accepts).
func CheckFingerprint(cert *x509.Certificate, want string) error {
	w, err := NormalizeFingerprint(want)
	if err != nil {
		return err
	}
	if got := Fingerprint(cert.Raw); got != w {
		return &FingerprintError{Want: w, Got: got}
	}
	return nil
}

// ParseCertificate decodes the first PEM certificate in b.
func ParseCertificate(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%w: no PEM certificate", ErrBadCertificate)
		}
		if blk.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadCertificate, err)
			}
			return c, nil
		}
	}
}

// ParseKey decodes a PEM private key (PKCS#8, SEC 1 or PKCS#1).
func ParseKey(b []byte) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%w: no PEM private key", ErrBadCertificate)
		}
		var k any
		var err error
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadCertificate, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: unsupported key type %T", ErrBadCertificate, k)
		}
		return s, nil
	}
}

// LoadFiles reads an operator's files: this process's certificate (PEM,
// optionally followed by intermediates) and key, and the CA certificate
// every member's chain ends at. It checks that they fit together.
func LoadFiles(certPath, keyPath, caPath string) (certPEM, keyPEM, caPEM []byte, err error) {
	if certPath == "" || keyPath == "" || caPath == "" {
		return nil, nil, nil, fmt.Errorf("%w: a TLS certificate, key and CA file are all needed", ErrBadCertificate)
	}
	if certPEM, err = os.ReadFile(certPath); err != nil {
		return nil, nil, nil, fmt.Errorf("pki: %w", err)
	}
	if err = checkPrivate(keyPath); err != nil {
		return nil, nil, nil, err
	}
	if keyPEM, err = os.ReadFile(keyPath); err != nil {
		return nil, nil, nil, fmt.Errorf("pki: %w", err)
	}
	if caPEM, err = os.ReadFile(caPath); err != nil {
		return nil, nil, nil, fmt.Errorf("pki: %w", err)
	}
	if err = Verify(certPEM, keyPEM, caPEM); err != nil {
		return nil, nil, nil, err
	}
	return certPEM, keyPEM, caPEM, nil
}

// Verify checks that certPEM is of keyPEM's key and chains to caPEM.
func Verify(certPEM, keyPEM, caPEM []byte) error {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return err
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return fmt.Errorf("%w: the certificate is not of this key", ErrBadCertificate)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%w: no CA certificate in the CA file", ErrBadCertificate)
	}
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(certPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: the certificate is not signed by the CA: %v", ErrBadCertificate, err)
	}
	return nil
}

func checkKeyType(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
	}
	return fmt.Errorf("%w: key type %T not accepted", ErrBadCertificate, pub)
}

func publicKeysEqual(a, b any) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// checkPrivate refuses a key file that group or others may read (or a
// symlink to one: the mode checked is the target's).
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o; chmod 600 it", ErrKeyPermissions, path, st.Mode().Perm())
	}
	return nil
}

// writeFile writes a new file, 0600 whatever the umask, atomically.
func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func pemBlock(typ string, der []byte) []byte {
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: typ, Bytes: der})
	return b.Bytes()
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
