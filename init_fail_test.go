package rayo_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/session"
)

// An embedded cluster whose dashboard cannot listen fails Init with a
// clear error and leaves nothing behind: no goroutine, no socket, no
// store file; the next Init starts afresh.
func TestInitFailedStartLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	err = rayo.Init(ctx, rayo.WithNumCPUs(1), rayo.WithLogToDriver(false), rayo.WithTempDir(dir), rayo.WithDashboard(ln.Addr().String()))
	if err == nil {
		rayo.Shutdown()
		t.Fatal("Init succeeded with the dashboard's port taken")
	}
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "starting the dashboard") {
		t.Errorf("the error does not say what failed: %v", err)
	}
	sess, err := session.Latest(filepath.Join(dir, "embedded"))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := sess.ReadAddress()
	if err != nil {
		t.Fatalf("the head never wrote its address: %v", err)
	}
	if p := rpc.UnixPath(addr); p != "" {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the head's socket %s is still there (%v)", p, err)
		}
	}
	if _, err := rayo.Put(ctx, 1); !errors.Is(err, rayo.ErrNotInitialized) {
		t.Errorf("Put after a failed Init: %v", err)
	}
	if err := rayo.Init(ctx, rayo.WithNumCPUs(1), rayo.WithLogToDriver(false), rayo.WithTempDir(dir)); err != nil {
		t.Fatalf("Init after a failed one: %v", err)
	}
	rayo.Shutdown()
}
