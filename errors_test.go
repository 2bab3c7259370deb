package rayo_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/rayo-dev/rayo"
)

// The error types users and libraries match with errors.As are rayo's
// own, not aliases of the core's: converted from the core's wherever they
// sit in a chain, keeping every field and errors.Is.
func TestErrorTypesArePublic(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[rayo.TaskError](), reflect.TypeFor[rayo.ActorDiedError]()} {
		if typ.PkgPath() != "github.com/rayo-dev/rayo" {
			t.Errorf("%s is defined in %s, want package rayo", typ.Name(), typ.PkgPath())
		}
	}
	ctx := initEmbedded(t)
	c, err := counterActor.New(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cIncr.Remote(c, 1).Get(ctx)
	wrapped := fmt.Errorf("calling the counter: %w", err)
	var de *rayo.ActorDiedError
	if !errors.As(wrapped, &de) {
		t.Fatalf("errors.As(*ActorDiedError) on %v failed", wrapped)
	}
	if de.Error() != err.Error() || de.Class == "" || de.ActorID == "" || de.Cause != rayo.ErrConstructorFailed {
		t.Fatalf("converted %+v from %q", de, err)
	}
	if !errors.Is(de, rayo.ErrActorDied) || !errors.Is(de, rayo.ErrConstructorFailed) || !errors.Is(de, errNegativeStart) {
		t.Fatalf("the converted error lost its matches: %v", de)
	}
	if de.Ctor == nil || !de.Ctor.Panicked && de.Ctor.Message == "" || !errors.Is(de.Ctor, rayo.ErrTaskFailed) {
		t.Fatalf("constructor error %+v", de.Ctor)
	}
	var te *rayo.TaskError
	if !errors.As(wrapped, &te) || te.Message != de.Ctor.Message || !errors.Is(te, errNegativeStart) {
		t.Fatalf("errors.As(*TaskError) through the dead actor: %+v", te)
	}
	// A value built by hand works too (no core error behind it).
	own := &rayo.TaskError{TaskName: "f", Message: "boom", Cause: rayo.ErrTaskFailed}
	if !errors.Is(own, rayo.ErrTaskFailed) || own.Error() != "rayo: task f failed: boom" {
		t.Fatalf("hand-built TaskError: %q", own.Error())
	}
}
