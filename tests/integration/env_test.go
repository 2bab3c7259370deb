package integration_test

import (
	"os"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/testcluster"
)

var envValue = rayo.Register[string]("itest.envValue", func(name string) string { return os.Getenv(name) })

// Workers are pooled by environment, and a full pool makes room: on a
// node whose soft cap (2) its job's prestarted workers already fill, a
// call of a new environment stops an idle worker of another to get one
// (as Ray's worker pool). Before, it waited for good: the prestarted
// workers are never reaped.
func TestEnvVarsFullPoolMakesRoom(t *testing.T) {
	c := testcluster.Start(t, testcluster.NodeSpec{CPUs: 2,
		ExtraArgs: []string{"--num-workers-soft-limit", "2", "--max-worker-processes", "2"}})
	connect(t, c)
	const name = "RAYOTEST_POOL_ENV"
	for i, want := range []string{"", "a", "b", "", "a"} {
		task := envValue
		if want != "" {
			task = envValue.Options(rayo.EnvVars(map[string]string{name: want}))
		}
		got, err := getT(t, task.Remote(name), 30*time.Second)
		if err != nil || got != want {
			t.Fatalf("call %d: %q, %v; want %q", i, got, err, want)
		}
		if n := len(c.WorkerPids(t)); n > 2 {
			t.Fatalf("call %d: %d worker processes; the cap is 2", i, n)
		}
	}
}
