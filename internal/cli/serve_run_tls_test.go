package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// rayo serve run --address gives the binary the cluster CA's fingerprint,
// so that its driver joins a cluster with TLS: the one given, else the
// CA of the head's session on this machine; none for a head without TLS.
func TestServeRunPassesTheCAFingerprint(t *testing.T) {
	t.Setenv(rpc.EnvCAFingerprint, "")
	tmp := t.TempDir()
	d, err := session.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:6380"
	if err := d.WriteAddress(addr); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteToken("tok"); err != nil {
		t.Fatal(err)
	}
	env := func(fingerprint string) string {
		t.Helper()
		cf := clusterFlags{tempDir: tmp, address: addr}
		e, err := serveRunEnvFor(&cf, fingerprint, "app:build")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range e {
			if v, ok := strings.CutPrefix(kv, rpc.EnvCAFingerprint+"="); ok {
				return v
			}
		}
		return ""
	}
	if fp := env(""); fp != "" {
		t.Fatalf("a head without TLS: fingerprint %q, want none", fp)
	}
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Path, session.CAFileName), ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if fp := env(""); fp != ca.Fingerprint() {
		t.Fatalf("the session's CA: fingerprint %q, want %q", fp, ca.Fingerprint())
	}
	given := strings.ToUpper(ca.Fingerprint())
	if fp := env(given); fp != ca.Fingerprint() {
		t.Fatalf("--ca-fingerprint %s: %q, want it normalised", given, fp)
	}
	cf := clusterFlags{tempDir: tmp, address: addr}
	if _, err := serveRunEnvFor(&cf, "not-a-fingerprint", "app:build"); err == nil {
		t.Fatal("a malformed --ca-fingerprint was accepted")
	}
}
