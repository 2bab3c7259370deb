package rayo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rayo-dev/rayo"
)

// tLookupPG looks a group up by name in a worker (the job's namespace).
var tLookupPG = rayo.Register[string]("travel.lookupPG", func(ctx context.Context, name string) (string, error) {
	pg, err := rayo.GetPlacementGroup(ctx, name)
	if err != nil {
		return "", err
	}
	return pg.ID(), nil
})

func TestGetPlacementGroup(t *testing.T) {
	ctx := initEmbedded(t)
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}}, rayo.PACK, rayo.PlacementGroupName("lookup-pg"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rayo.GetPlacementGroup(ctx, "lookup-pg")
	if err != nil || got.ID() != pg.ID() || got.BundleCount() != 1 || got.Name() != "lookup-pg" {
		t.Fatalf("GetPlacementGroup: %+v %v; want the group %s", got, err, pg.ID())
	}
	if err := got.Ready(ctx); err != nil {
		t.Fatalf("Ready on a group found by name: %v", err)
	}
	if id, err := tLookupPG.Remote("lookup-pg").Get(ctx); err != nil || id != pg.ID() {
		t.Fatalf("GetPlacementGroup in a worker of the job: %q %v; want %s", id, err, pg.ID())
	}
	// A name is unique among the namespace's live groups.
	if _, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}}, rayo.PACK, rayo.PlacementGroupName("lookup-pg")); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("a second group with a taken name: %v; want ErrInvalidOption", err)
	}
	for _, tc := range []struct {
		name string
		opts []rayo.Option
		want error
	}{
		{"lookup-pg", []rayo.Option{rayo.Namespace("travel-elsewhere")}, rayo.ErrPlacementGroupNotFound},
		{"no-such-pg", nil, rayo.ErrPlacementGroupNotFound},
		{"", nil, rayo.ErrInvalidOption},
		{"lookup-pg", []rayo.Option{rayo.NumCPUs(1)}, rayo.ErrInvalidOption},
	} {
		if got, err := rayo.GetPlacementGroup(ctx, tc.name, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("GetPlacementGroup(%q, %d options): %+v %v; want %v", tc.name, len(tc.opts), got, err, tc.want)
		}
	}
	if id, err := tLookupPG.Remote("no-such-pg").Get(ctx); !errors.Is(err, rayo.ErrPlacementGroupNotFound) {
		t.Fatalf("GetPlacementGroup of an unknown name in a worker: %q %v; want ErrPlacementGroupNotFound", id, err)
	}
	// Removed, the group is gone by name and its name is free.
	if err := rayo.RemovePlacementGroup(ctx, pg); err != nil {
		t.Fatal(err)
	}
	if got, err := rayo.GetPlacementGroup(ctx, "lookup-pg"); !errors.Is(err, rayo.ErrPlacementGroupNotFound) {
		t.Fatalf("GetPlacementGroup after removal: %+v %v; want ErrPlacementGroupNotFound", got, err)
	}
	again, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}}, rayo.PACK, rayo.PlacementGroupName("lookup-pg"))
	if err != nil {
		t.Fatalf("a group named like a removed one: %v", err)
	}
	if err := rayo.RemovePlacementGroup(ctx, again); err != nil {
		t.Fatal(err)
	}
}

func TestKillAndRemoveTakeContext(t *testing.T) {
	ctx := initEmbedded(t)
	if err := rayo.Kill(ctx, rayo.ActorHandle[Counter]{}, true); !errors.Is(err, rayo.ErrBadCall) {
		t.Fatalf("Kill of the zero handle: %v; want ErrBadCall", err)
	}
	if err := rayo.RemovePlacementGroup(ctx, nil); !errors.Is(err, rayo.ErrInvalidOption) {
		t.Fatalf("RemovePlacementGroup(nil): %v; want ErrInvalidOption", err)
	}
	c, err := counterActor.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := rayo.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}}, rayo.PACK)
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := rayo.Kill(done, c, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Kill with a cancelled context: %v; want context.Canceled", err)
	}
	if err := rayo.RemovePlacementGroup(done, pg); !errors.Is(err, context.Canceled) {
		t.Fatalf("RemovePlacementGroup with a cancelled context: %v; want context.Canceled", err)
	}
	// With a live context both go through.
	if err := rayo.Kill(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	if err := rayo.RemovePlacementGroup(ctx, pg); err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); !errors.Is(err, rayo.ErrPlacementGroupRemoved) {
		t.Fatalf("Ready after removal: %v", err)
	}
}
