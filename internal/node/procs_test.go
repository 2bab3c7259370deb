package node

import (
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/rayo-dev/rayo/internal/core"
)

func TestStartProcsEnv(t *testing.T) {
	if workerMaxProcsEnv != core.WorkerMaxProcsEnv {
		t.Fatalf("the node sets %s, the worker reads %s", workerMaxProcsEnv, core.WorkerMaxProcsEnv)
	}
	want := []string{"GOMAXPROCS=1", workerMaxProcsEnv + "=" + strconv.Itoa(runtime.GOMAXPROCS(0))}
	if got := startProcsEnv([]string{"PATH=/bin"}); !slices.Equal(got, want) {
		t.Errorf("start env %q, want %q", got, want)
	}
	if got := startProcsEnv([]string{"PATH=/bin", "GOMAXPROCS=4"}); got != nil {
		t.Errorf("with the user's GOMAXPROCS: %q, want nothing added", got)
	}
}
