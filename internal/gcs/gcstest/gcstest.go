package gcstest

import (
	"io"
	"log/slog"
	"testing"

	"github.com/rayo-dev/rayo/internal/gcs"
)

// Start starts a head that admits token, with its state in the test's
// temporary directories and its log discarded; it stops with the test.
func Start(t testing.TB, token string) *gcs.Server {
	t.Helper()
	g, err := gcs.Start(gcs.Config{Token: token, BinariesDir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	return g
}
