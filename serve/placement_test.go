package serve_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve"
)

// grouped reports where its replica runs and runs a task in bundle 1 of
// the replica's placement group.
type grouped struct{ v string }

var groupedDep = serve.NewDeployment[grouped]("test.grouped", func(v string) *grouped { return &grouped{v} },
	serve.DeploymentConfig{NumCPUs: 0.1, PlacementGroupBundles: []map[string]float64{{"CPU": 0.2}, {"CPU": 0.3}}})

// whereTask reports the placement group and bundle it runs in.
var whereTask = rayo.Register[string]("test.serve.where", func(ctx context.Context) (string, error) {
	rc, err := rayo.GetRuntimeContext(ctx)
	return fmt.Sprintf("%s/%d", rc.PlacementGroupID, rc.BundleIndex), err
})

// placed is what grouped.Where reports.
type placed struct {
	PG, PGName, Replica, App, Deployment string
	Bundle                               int
	Task                                 string
}

func (g *grouped) Where(ctx context.Context) (placed, error) {
	rc, err := rayo.GetRuntimeContext(ctx)
	if err != nil {
		return placed{}, err
	}
	rep := serve.GetReplicaContext(ctx)
	if rep.PlacementGroup == nil {
		return placed{}, errors.New("the replica context has no placement group")
	}
	task, err := whereTask.Options(rayo.InPlacementGroup(rep.PlacementGroup, 1), rayo.NumCPUs(0.3)).Remote().Get(ctx)
	if err != nil {
		return placed{}, err
	}
	return placed{PG: rc.PlacementGroupID, PGName: rep.PlacementGroup.Name(), Replica: rep.ReplicaID, App: rep.App,
		Deployment: rep.Deployment, Bundle: rc.BundleIndex, Task: task}, nil
}

// idleCPUs waits until no CPU is held (an earlier test's replicas may
// still be going) and returns the cluster's CPUs.
func idleCPUs(t *testing.T) float64 {
	t.Helper()
	total, err := rayo.ClusterResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitCPU(t, total["CPU"], "before the test")
	return total["CPU"]
}

// waitCPU polls the cluster's available CPUs until they are want.
func waitCPU(t *testing.T, want float64, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		av, err := rayo.AvailableResources(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d := av["CPU"] - want; d > -1e-6 && d < 1e-6 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v CPUs available, want %v", what, av["CPU"], want)
		}
		time.Sleep(20 * time.Millisecond) // polling the nodes' heartbeats
	}
}

func where(t *testing.T, ctx context.Context) placed {
	t.Helper()
	p, err := serve.Result[placed](ctx, serve.GetDeploymentHandle("pg", "test.grouped").Call(ctx, "Where"))
	if err != nil {
		t.Fatal(err)
	}
	if p.PG == "" || p.Bundle != 0 || p.Task != p.PG+"/1" || p.PGName != p.Replica+"/pg" || p.App != "pg" || p.Deployment != "test.grouped" {
		t.Fatalf("the replica runs in %+v; want bundle 0 of its own group and a task in bundle 1", p)
	}
	return p
}

// Each replica gets its own group; a bundle change rolls the replicas and
// their groups over, and Delete gives every reservation back.
func TestPlacementGroupPerReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	startServe(t)
	idle := idleCPUs(t)
	if _, err := serve.Run(ctx, groupedDep.Bind("a"), serve.RunOptions{Name: "pg"}); err != nil {
		t.Fatal(err)
	}
	first := where(t, ctx)
	waitCPU(t, idle-0.5, "with one replica's group")

	bigger := groupedDep.Options(serve.DeploymentConfig{PlacementGroupBundles: []map[string]float64{{"CPU": 0.2}, {"CPU": 0.4}},
		PlacementGroupStrategy: rayo.STRICT_PACK})
	if _, err := serve.Run(ctx, bigger.Bind("a"), serve.RunOptions{Name: "pg"}); err != nil {
		t.Fatal(err)
	}
	second := where(t, ctx)
	if second.PG == first.PG || second.Replica == first.Replica {
		t.Fatalf("a bundle change kept the replica and its group: %+v", second)
	}
	if _, err := rayo.GetPlacementGroup(ctx, first.PGName); !errors.Is(err, rayo.ErrPlacementGroupNotFound) {
		t.Fatalf("the replaced replica's group is still there: %v", err)
	}
	waitCPU(t, idle-0.6, "after the rolling update")

	if err := serve.Delete(ctx, "pg"); err != nil {
		t.Fatal(err)
	}
	waitCPU(t, idle, "after Delete")
	if _, err := rayo.GetPlacementGroup(ctx, second.PGName); !errors.Is(err, rayo.ErrPlacementGroupNotFound) {
		t.Fatalf("the deleted replica's group is still there: %v", err)
	}
}

// A group the cluster cannot hold for now leaves its replica STARTING,
// without holding up the controller, until room frees up.
func TestPlacementGroupWaitsForRoom(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	startServe(t)
	hog, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": idleCPUs(t) - 0.3}}, rayo.PACK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rayo.RemovePlacementGroup(context.Background(), hog) })
	if err := hog.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = serve.Run(ctx, groupedDep.Bind("w"), serve.RunOptions{Name: "pg", Wait: 3 * time.Second})
	if !errors.Is(err, serve.ErrUnavailable) {
		t.Fatalf("Run with no room for the group: %v", err)
	}
	st, err := serve.GetStatus(ctx) // answered: the loop is not stuck
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Applications[0].Deployments[0]; len(d.Replicas) != 1 || d.Replicas[0].State != "STARTING" {
		t.Fatalf("waiting for room: %+v", d)
	}
	if err := rayo.RemovePlacementGroup(ctx, hog); err != nil {
		t.Fatal(err)
	}
	if _, err := serve.Run(ctx, groupedDep.Bind("w"), serve.RunOptions{Name: "pg"}); err != nil {
		t.Fatal(err)
	}
	where(t, ctx)
}

func TestPlacementGroupBadConfigs(t *testing.T) {
	for _, c := range []struct {
		what string
		cfg  serve.DeploymentConfig
		want string
	}{
		{"replica larger than bundle 0", serve.DeploymentConfig{NumCPUs: 0.5}, "PlacementGroupBundles[0], which must hold its resources: CPU 0.5 > 0.2"},
		{"custom resource outside bundle 0", serve.DeploymentConfig{Resources: map[string]float64{"tpu": 1}}, "tpu 1 > 0"},
		{"no bundles", serve.DeploymentConfig{PlacementGroupBundles: []map[string]float64{}}, "PlacementGroupBundles is empty"},
		{"empty bundle", serve.DeploymentConfig{PlacementGroupBundles: []map[string]float64{{"CPU": 0.2}, {}}}, "PlacementGroupBundles[1] is empty"},
		{"negative", serve.DeploymentConfig{PlacementGroupBundles: []map[string]float64{{"CPU": 0.2, "GPU": -1}}}, `PlacementGroupBundles[0]: "GPU" -1`},
		{"strategy", serve.DeploymentConfig{PlacementGroupStrategy: 9}, "unknown PlacementGroupStrategy"},
	} {
		_, err := serve.Run(context.Background(), groupedDep.Options(c.cfg).Bind("x"), serve.RunOptions{Name: "bad"})
		if !errors.Is(err, serve.ErrInvalidConfig) || !strings.Contains(err.Error(), "deployment test.grouped") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrInvalidConfig with %q", c.what, err, c.want)
		}
	}
	// Config files: the parser's field errors, and bundles that do not
	// hold the replica's resources as the code sets them.
	for _, c := range []struct{ deps, want string }{
		{"placement_group_strategy: TIGHT", `deployments[0].placement_group_strategy: unknown strategy "TIGHT"`},
		{"placement_group_bundles: [{CPU: -1}]", "placement_group_bundles[0].CPU: must be at least 0"},
		{"placement_group_bundles: [{CPU: 0.1}]", "deployment test.scaler: the replica runs in PlacementGroupBundles[0], which must hold its resources: CPU 0.25 > 0.1"},
	} {
		file := "applications:\n  - name: a\n    import_path: test:calc\n    args: {factor: 1}\n    deployments:\n      - name: test.scaler\n        " + c.deps + "\n"
		_, err := serve.Deploy(context.Background(), []byte(file))
		if !errors.Is(err, serve.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrInvalidConfig with %q", c.deps, err, c.want)
		}
	}
}

func TestInfeasibleBundlesFailAtOnce(t *testing.T) {
	startServe(t)
	for _, c := range []struct {
		cfg  serve.DeploymentConfig
		want string
	}{
		{serve.DeploymentConfig{PlacementGroupBundles: []map[string]float64{{"CPU": 0.2}, {"CPU": 64}}}, "no node can hold PlacementGroupBundles[1]"},
		{serve.DeploymentConfig{PlacementGroupBundles: []map[string]float64{{"CPU": 1.5}, {"CPU": 1.5}}, PlacementGroupStrategy: rayo.STRICT_PACK}, "STRICT_PACK"},
		{serve.DeploymentConfig{PlacementGroupStrategy: rayo.STRICT_SPREAD}, "STRICT_SPREAD needs a node per bundle: 2 bundles, 1 nodes"},
	} {
		_, err := serve.Run(context.Background(), groupedDep.Options(c.cfg).Bind("x"), serve.RunOptions{Name: "huge"})
		if !errors.Is(err, serve.ErrUnavailable) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want ErrUnavailable with %q", err, c.want)
		}
	}
}

// A restarted controller keeps its replicas' groups and removes the
// group of a replica that died meanwhile.
func TestPlacementGroupsOutliveController(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	startServe(t)
	idle := idleCPUs(t)
	if _, err := serve.Run(ctx, groupedDep.Options(serve.DeploymentConfig{NumReplicas: 2}).Bind("r"), serve.RunOptions{Name: "pg"}); err != nil {
		t.Fatal(err)
	}
	st, err := serve.GetStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reps := st.Applications[0].Deployments[0].Replicas
	if len(reps) != 2 {
		t.Fatalf("replicas: %+v", reps)
	}
	if err := serve.KillReplica(ctx, reps[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := serve.RestartController(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, dead := rayo.GetPlacementGroup(ctx, reps[0].ID+"/pg")
		_, kept := rayo.GetPlacementGroup(ctx, reps[1].ID+"/pg")
		st, err := serve.GetStatus(ctx) // fails while the controller restarts
		var d serve.DeploymentStatus
		if err == nil && len(st.Applications) == 1 {
			d = st.Applications[0].Deployments[0]
		}
		if errors.Is(dead, rayo.ErrPlacementGroupNotFound) && kept == nil && d.Running == 2 && len(d.Replicas) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: the dead replica's group %v, the live one's %v, status %+v %v", dead, kept, d, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the head and the controller
	}
	waitCPU(t, idle-1, "two replicas' groups")
}
