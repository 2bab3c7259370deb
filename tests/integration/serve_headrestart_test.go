package integration_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	sv "github.com/rayo-dev/rayo/serve"
)

// Serve through a head restart (issue 18: the controller "survives ... a
// head restart without dropping the running applications"): the head is
// killed with SIGKILL under load and started again. Requests keep being
// served throughout (a proxy calls its replicas directly, with the route
// table it has), and afterwards the controller knows the same
// application and replicas and deploys again.
func TestServeSurvivesHeadRestart(t *testing.T) {
	c, driverNode := headRestartCluster(t)
	ctx := withTimeout(t, 3*time.Minute)
	if err := rayo.Init(ctx, rayo.WithAddress(c.Address()), rayo.WithToken(c.Token()), rayo.WithLogToDriver(false),
		rayo.WithNodeAddress(driverNode.Addr), rayo.WithHeadTimeout(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rayo.Shutdown)
	// The proxy on the driver's node, which lives on while the head dies.
	addr, err := sv.Start(ctx, sv.HTTPOptions{Port: -1, Location: sv.HeadOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sv.Shutdown(ctx); err != nil {
			t.Errorf("sv.Shutdown: %v", err)
		}
	})
	if _, err := sv.Run(ctx, svWhereDep.Options(sv.DeploymentConfig{NumReplicas: 2, NumCPUs: 0.5}).Bind(),
		sv.RunOptions{Name: "headkill", RoutePrefix: "/hk"}); err != nil {
		t.Fatal(err)
	}
	replicas := func(d sv.DeploymentStatus) []string {
		var out []string
		for _, r := range d.Replicas {
			out = append(out, r.ID)
		}
		slices.Sort(out)
		return out
	}
	before := replicas(svDeployment(t, ctx, "headkill"))

	client := svHTTP(t, 30*time.Second)
	l := svStartLoad(client, "http://"+addr+"/hk", 4)
	defer l.end()
	l.waitOK(t, 50)

	c.KillNode(t, c.Head())
	l.waitOK(t, 100) // served with the head down
	c.RestartHead(t)
	c.WaitFor(t, time.Minute, func() bool {
		st, err := sv.GetStatus(ctx)
		if err != nil || len(st.Applications) != 1 {
			return false
		}
		d := st.Applications[0].Deployments[0]
		return st.Applications[0].Status == "RUNNING" && d.Running == 2 && slices.Equal(replicas(d), before)
	}, fmt.Sprintf("the controller to report the application with its replicas %v", before))
	// It deploys again.
	if _, err := sv.Run(ctx, svWhereDep.Options(sv.DeploymentConfig{NumReplicas: 1, NumCPUs: 0.25}).Bind(),
		sv.RunOptions{Name: "afterhead", RoutePrefix: "/after"}); err != nil {
		t.Fatal(err)
	}
	if code, body, err := svGet(client, "http://"+addr+"/after"); err != nil || code != 200 {
		t.Fatalf("the application deployed after the restart: %d %q %v", code, body, err)
	}
	l.waitOK(t, 50)
	l.end()
	t.Logf("through the head's restart: %s", l)
	if l.failed.Load() != 0 {
		t.Fatalf("requests failed: %s", l)
	}
	if got := replicas(svDeployment(t, ctx, "headkill")); !slices.Equal(got, before) {
		t.Fatalf("replicas %v after the restart, want %v", got, before)
	}
}
