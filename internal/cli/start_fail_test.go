package cli

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/gcs"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// A head whose dashboard cannot listen fails with a clear error and
// leaves nothing running: no daemon, no socket, and no state that the
// next head on its directory would take for a crashed cluster to recover.
// The next head then starts a new cluster there.
func TestStartHeadFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	daemonEnvForTest(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	args := append([]string{"start", "--head", "--port", "0", "--dashboard-port", port, "--temp-dir", dir}, small...)
	_, errs, err := rayoCLI(t, args...)
	_ = ln.Close()
	if err == nil {
		t.Fatal("the head started with its dashboard's port taken")
	}
	if !strings.Contains(errs, "starting the dashboard") || !strings.Contains(errs, "address already in use") {
		t.Errorf("the error does not say what failed: %q", errs)
	}
	sess, err := session.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := sess.ReadAddress()
	if err != nil {
		t.Fatalf("the head never wrote its address: %v", err)
	}
	if p := rpc.UnixPath(addr); p != "" {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the failed head's socket %s is still there (%v)", p, err)
		}
	}
	if n, err := stopAll(dir, 5*time.Second, io.Discard); err != nil || n != 0 {
		t.Errorf("daemons left running: %d (%v)", n, err)
	}
	data := filepath.Join(dir, "head")
	if gcs.HasState(data) {
		t.Errorf("the failed head left its state in %s", data)
	}
	if _, err := os.Stat(filepath.Join(data, headRecordFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed head left its record (%v)", err)
	}
	// The directory serves a new cluster.
	sess2, _, _ := startHead(t, dir)
	if sess2.Path == sess.Path {
		t.Errorf("the next head recovered the failed one's session %s", sess.Path)
	}
}
