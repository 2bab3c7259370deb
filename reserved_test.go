package rayo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/internal/reservedtest"
)

// panicText runs f and returns what it panicked with ("" if it did not).
func panicText(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

type reservedBox struct{}

var reservedRuns int

// TestReservedPrefixRefused: this package, github.com/rayo-dev/rayo_test,
// is outside the rayo module's package tree, as a user's is.
func TestReservedPrefixRefused(t *testing.T) {
	for range 2 { // the refused name stays free: the second try is refused the same way
		msg := panicText(func() { rayo.Register[int]("rayo.user.task", func() int { return 1 }) })
		if !strings.Contains(msg, "reserved") || !strings.Contains(msg, "github.com/rayo-dev/rayo_test") {
			t.Fatalf("Register with a reserved name from a user package: panic %q; want a reserved-name panic naming the package", msg)
		}
		msg = panicText(func() {
			rayo.RegisterActor[reservedBox]("rayo.user.Box", func() *reservedBox { return &reservedBox{} })
		})
		if !strings.Contains(msg, "reserved") {
			t.Fatalf("RegisterActor with a reserved class from a user package: panic %q; want a reserved-name panic", msg)
		}
	}
	// Names that merely contain the prefix elsewhere are the user's (a
	// name of its own per run: -count runs the test again in one process).
	reservedRuns++
	name := fmt.Sprintf("my.rayo.task%d", reservedRuns)
	if msg := panicText(func() { rayo.Register[int](name, func() int { return 1 }) }); msg != "" {
		t.Fatalf("Register(%q): %s", name, msg)
	}
}

// TestReservedPrefixLibrary: a package of the rayo module registers
// reserved names (at package level, in every process) and they run in
// workers like any other.
func TestReservedPrefixLibrary(t *testing.T) {
	if reservedtest.Echo.Name() != "rayo.reservedtest.echo" || reservedtest.BoxType.Class() != "rayo.reservedtest.Box" {
		t.Fatalf("library registrations: %q %q", reservedtest.Echo.Name(), reservedtest.BoxType.Class())
	}
	ctx := initEmbedded(t)
	if s, err := reservedtest.Echo.Remote("hi").Get(ctx); err != nil || s != "echo:hi" {
		t.Fatalf("a library task in a worker: %q %v", s, err)
	}
	b, err := reservedtest.BoxType.New(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rayo.Kill(context.Background(), b, true) }()
	if n, err := reservedtest.BoxN.Remote(b).Get(ctx); err != nil || n != 7 {
		t.Fatalf("a library actor in a worker: %v %v", n, err)
	}
}
