package gcs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/sched"
)

// The head remembers at most MaxDeadActors dead actors, the most
// recently dead, in memory and across a restart; living ones are never
// forgotten.
func TestDeadActorsAreBounded(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Token: "tok", BinariesDir: filepath.Join(dir, "bin"), DataDir: filepath.Join(dir, "data"),
		MaxDeadActors: 3, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := func(i int) string { return fmt.Sprintf("a0c1d2e3f4%06x", i) }
	for i := range 8 {
		spec := &protocol.ActorSpec{ActorID: id(i), Class: "c", Name: fmt.Sprintf("n%d", i), Namespace: "ns",
			Job: protocol.JobSpec{JobID: "00000001"}, Resources: sched.Resources{"nowhere": sched.Unit}}
		if _, err := s.createActor(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	// Kill six of the eight (they wait, infeasible): the first three
	// killed are forgotten.
	for i := range 6 {
		if _, err := s.killActor(ctx, &protocol.KillActorRequest{ActorID: id(i), NoRestart: true}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Server, when string) {
		t.Helper()
		s.mu.Lock()
		defer s.mu.Unlock()
		for i := range 8 {
			a := s.actors[id(i)]
			switch {
			case i < 3 && a != nil:
				t.Errorf("%s: dead actor %d is still remembered", when, i)
			case i >= 3 && a == nil:
				t.Errorf("%s: actor %d is forgotten", when, i)
			}
		}
		if _, ok := s.actorNames[nsKey("ns", "n0")]; ok {
			t.Errorf("%s: a forgotten actor's name is still taken", when)
		}
		if _, ok := s.actorNames[nsKey("ns", "n7")]; !ok {
			t.Errorf("%s: a living actor's name is gone", when)
		}
	}
	check(s, "running")
	s.Stop()
	s, err = Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	check(s, "after a restart")
}
