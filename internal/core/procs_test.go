package core

import (
	"runtime"
	"testing"
)

func TestProcsAtStart(t *testing.T) {
	for _, c := range []struct {
		name      string
		env       map[string]string
		wantUser  bool
		wantMax   int
		wantUnset bool
	}{
		{"nothing set", map[string]string{}, false, 3, false},
		{"the user's GOMAXPROCS", map[string]string{"GOMAXPROCS": "3"}, true, 3, false},
		{"the node's start value", map[string]string{"GOMAXPROCS": "1", WorkerMaxProcsEnv: "16"}, false, 16, true},
		{"a malformed count", map[string]string{"GOMAXPROCS": "1", WorkerMaxProcsEnv: "x"}, false, runtime.NumCPU(), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range c.env {
				env[k] = v
			}
			user, max := procsAtStart(func(k string) string { return env[k] },
				func(k string) error { delete(env, k); return nil }, 3)
			if user != c.wantUser || max != c.wantMax {
				t.Errorf("user %v, max %d; want %v, %d", user, max, c.wantUser, c.wantMax)
			}
			if _, left := env["GOMAXPROCS"]; c.wantUnset && (left || env[WorkerMaxProcsEnv] != "") {
				t.Errorf("the node's settings stay in the environment the worker's children get: %v", env)
			}
		})
	}
}
