package gcs

import (
	"errors"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/rpc"
)

// A listener of the head that stops for good (here: closed from under
// it) is reported through Failed, for the daemon to stop on, instead of
// leaving a head that nobody can reach.
func TestHeadListenerStopIsReported(t *testing.T) {
	s, _ := start(t)
	select {
	case <-s.Failed():
		t.Fatalf("failed at start: %v", s.Err())
	default:
	}
	_ = s.ln.Close()
	select {
	case <-s.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("a stopped listener was not reported")
	}
	if !errors.Is(s.Err(), rpc.ErrListenerStopped) {
		t.Fatalf("Err: %v, want rpc.ErrListenerStopped", s.Err())
	}
}
