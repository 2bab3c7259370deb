package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/internal/pki"
	"github.com/rayo-dev/rayo/internal/session"
)

// A job's driver once got only RAYO_ADDRESS and RAYO_TOKEN, and looked
// for the cluster CA in the default temp dir's latest session: under a
// head started with --temp-dir it ran without TLS, which worked over the
// head machine's Unix sockets only. The job gets the CA's fingerprint and
// joins with a certificate: here a rayo command in the job reaches the
// head over TCP (no Unix socket in its TMPDIR), which a TLS head refuses
// to a client without one.
func TestJobJoinsATLSClusterOfAnotherTempDir(t *testing.T) {
	headDir := filepath.Join(t.TempDir(), "head")
	daemonEnvForTest(t, headDir)
	t.Setenv("RAYO_CA_FINGERPRINT", "") // the daemons' (and so the job's) environment has none
	sess, _, _ := startHead(t, headDir)
	b, err := os.ReadFile(filepath.Join(sess.Path, session.CAFileName))
	if err != nil {
		t.Fatalf("the head (TLS by default) wrote no CA into its session: %v", err)
	}
	ca, err := pki.ParseCertificate(b)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	noSockets := t.TempDir() // the job's TMPDIR: no Unix socket of the head's there
	// The job inherits the head's environment, so exe runs as rayo (asRayo).
	script := `echo "fp=$RAYO_CA_FINGERPRINT"; TMPDIR="$1" exec "$0" status --address "$RAYO_ADDRESS" --temp-dir "$1"`
	out, errs, err := rayoCLI(t, "job", "submit", "--temp-dir", headDir, "--submission-id", "tls", "--", "sh", "-c", script, exe, noSockets)
	if err != nil {
		t.Fatalf("rayo job submit: %v\n%s%s", err, out, errs)
	}
	if want := "fp=" + pki.Fingerprint(ca.Raw) + "\n"; !strings.Contains(out, want) {
		t.Errorf("the job's environment: %q, want %q", out, want)
	}
	if !strings.Contains(out, "node(s) alive") {
		t.Errorf("the job reached no head over TCP: %q", out)
	}
}
