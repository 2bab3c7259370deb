package core

import (
	"maps"
	"testing"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

func TestPlainResources(t *testing.T) {
	const pg = "abc123"
	u := int64(sched.Unit)
	in := func(name string, i int) string { return protocol.BundleResourceName(name, pg, i) }
	for _, tc := range []struct {
		name   string
		res    sched.Resources
		plain  sched.Resources
		pg     string
		bundle int
	}{
		{"no group", sched.Resources{"CPU": u, "GPU": 2 * u}, sched.Resources{"CPU": u, "GPU": 2 * u}, "", -1},
		{"nothing", nil, sched.Resources{}, "", -1},
		{"bundle 2", sched.Resources{in("CPU", 2): u, in("GPU", 2): u / 2, in("bundle", 2): 10}, sched.Resources{"CPU": u, "GPU": u / 2}, pg, 2},
		{"bundle 0, no resources", sched.Resources{in("bundle", 0): 10}, sched.Resources{}, pg, 0},
		{"any bundle", sched.Resources{in("CPU", -1): u, in("bundle", -1): 10}, sched.Resources{"CPU": u}, pg, -1},
		{"a custom name with _group_ in it", sched.Resources{in("my_group_x", 1): u, in("bundle", 1): 10}, sched.Resources{"my_group_x": u}, pg, 1},
	} {
		plain, gotPG, bundle := plainResources(tc.res)
		if !maps.Equal(plain, tc.plain) || gotPG != tc.pg || bundle != tc.bundle {
			t.Errorf("%s: got %v %q %d, want %v %q %d", tc.name, plain, gotPG, bundle, tc.plain, tc.pg, tc.bundle)
		}
	}
}
