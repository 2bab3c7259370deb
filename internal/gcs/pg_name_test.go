package gcs

import (
	"context"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

func TestPGNamesByNamespace(t *testing.T) {
	dataDir, binDir := t.TempDir(), t.TempDir()
	ctx := context.Background()
	s1, c1 := startOn(t, dataDir, binDir, time.Hour)
	create := func(c *rpc.Client, id, name, ns string) error {
		// No node joins: the groups stay pending, which is enough here.
		return c.Call(ctx, protocol.HeadCreatePG, &protocol.CreatePGRequest{PGID: id, Name: name, Namespace: ns,
			Bundles: []sched.Resources{{"CPU": sched.Unit}}, JobID: "j1"}, nil)
	}
	lookup := func(c *rpc.Client, name, ns string) (string, error) {
		var info protocol.PGInfo
		err := c.Call(ctx, protocol.HeadGetPGByName, &protocol.GetPGByNameRequest{Name: name, Namespace: ns}, &info)
		return info.PGID, err
	}
	for _, tc := range []struct {
		id, name, ns string
		code         string
	}{
		{"pg1", "train", "ns1", ""},
		{"pg2", "train", "ns1", rpc.CodeBadRequest}, // taken in ns1
		{"pg3", "train", "ns2", ""},                 // another namespace
		{"pg4", "", "ns1", ""},                      // unnamed groups never clash
		{"pg5", "", "ns1", ""},
		{"pg1", "train", "ns1", ""}, // a retried creation of pg1 is no clash
	} {
		if err := create(c1, tc.id, tc.name, tc.ns); rpc.CodeOf(err) != tc.code || (tc.code == "") != (err == nil) {
			t.Fatalf("create %s %q in %q: %v; want code %q", tc.id, tc.name, tc.ns, err, tc.code)
		}
	}
	check := func(c *rpc.Client, name, ns, wantID, wantCode string) {
		t.Helper()
		id, err := lookup(c, name, ns)
		if id != wantID || rpc.CodeOf(err) != wantCode {
			t.Fatalf("lookup %q in %q: %q %v; want %q, code %q", name, ns, id, err, wantID, wantCode)
		}
	}
	check(c1, "train", "ns1", "pg1", "")
	check(c1, "train", "ns2", "pg3", "")
	check(c1, "train", "ns3", "", protocol.CodePGNotFound)
	check(c1, "", "ns1", "", rpc.CodeBadRequest)

	// The names and their namespaces survive a head restart.
	s1.Stop()
	_, c2 := startOn(t, dataDir, binDir, time.Hour)
	check(c2, "train", "ns1", "pg1", "")
	check(c2, "train", "ns2", "pg3", "")
	// A removed group frees its name.
	if err := c2.Call(ctx, protocol.HeadRemovePG, &protocol.RemovePGRequest{PGID: "pg1"}, nil); err != nil {
		t.Fatal(err)
	}
	check(c2, "train", "ns1", "", protocol.CodePGNotFound)
	if err := create(c2, "pg6", "train", "ns1"); err != nil {
		t.Fatalf("a name freed by removal: %v", err)
	}
	check(c2, "train", "ns1", "pg6", "")
}
