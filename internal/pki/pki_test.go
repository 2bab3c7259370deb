package pki

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "head", "tls")
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, CAKeyFile): 0o600, filepath.Join(dir, CACertFile): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %#o, want %#o", path, st.Mode().Perm(), want)
		}
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != ca.Fingerprint() {
		t.Fatal("a restarted head made a new CA")
	}

	if err := os.Chmod(filepath.Join(dir, CAKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("a world-readable key: %v, want ErrKeyPermissions", err)
	}
	if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("a CA certificate without its key: %v, want ErrBadCertificate", err)
	}
}

func TestSignCSR(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	csr, key, err := NewCSR("node-1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.SignCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(cert, key, ca.CertPEM()); err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "node-1" || c.IsCA {
		t.Fatalf("issued %q, CA=%v", c.Subject.CommonName, c.IsCA)
	}

	other, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(cert, key, other.CertPEM()); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("verified against another CA: %v", err)
	}
	_, otherKey, err := NewCSR("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(cert, otherKey, ca.CertPEM()); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("a certificate with another key: %v", err)
	}

	// A request whose signature does not hold (its key is not the
	// requester's) is refused.
	bad := []byte(strings.Replace(string(csr), string(csr[len(csr)-40:len(csr)-30]), "AAAAAAAAAA", 1))
	if _, err := ca.SignCSR(bad); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("a tampered request: %v", err)
	}
	if _, err := ca.SignCSR([]byte("not pem")); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestFingerprints(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	fp := ca.Fingerprint()
	if len(fp) != 64 {
		t.Fatalf("fingerprint %q", fp)
	}
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, strings.ToUpper(fp[i:i+2]))
	}
	for _, in := range []string{fp, " " + strings.ToUpper(fp) + "\n", "sha256:" + fp, "SHA256 Fingerprint=" + strings.Join(colons, ":")} {
		got, err := NormalizeFingerprint(in)
		if err != nil || got != fp {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "abc", fp[:62], fp + "00", strings.Repeat("zz", 32)} {
		if _, err := NormalizeFingerprint(in); !errors.Is(err, ErrBadFingerprint) {
			t.Errorf("NormalizeFingerprint(%q): %v, want ErrBadFingerprint", in, err)
		}
	}
	other, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCertificate(other.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	err = CheckFingerprint(cert, fp)
	var fe *FingerprintError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFingerprintMismatch) || fe.Want != fp || fe.Got != other.Fingerprint() {
		t.Fatalf("CheckFingerprint: %v", err)
	}
	if !strings.Contains(err.Error(), fp) || !strings.Contains(err.Error(), other.Fingerprint()) {
		t.Fatalf("the error does not name both: %v", err)
	}
	if err := CheckFingerprint(cert, other.Fingerprint()); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("operator")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, k, a := write("node.crt", cert, 0o644), write("node.key", key, 0o600), write("ca.crt", ca.CertPEM(), 0o644)
	if _, _, _, err := LoadFiles(c, k, a); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := LoadFiles(c, "", a); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("no key file: %v", err)
	}
	if err := os.Chmod(k, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := LoadFiles(c, k, a); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("a group-readable key: %v", err)
	}
}
