// Package reservedtest registers a task and an actor type under the
// reserved prefix, as rayo's libraries do, from a package of the rayo
// module. Only tests import it (rayo_test's reserved-name tests).
package reservedtest

import "github.com/rayo-dev/rayo"

// Box is an actor that holds a number.
type Box struct{ N int }

var (
	// Echo is a library-style task: registered under "rayo.".
	Echo = rayo.Register[string]("rayo.reservedtest.echo", func(s string) string { return "echo:" + s })
	// BoxType is a library-style actor type.
	BoxType = rayo.RegisterActor[Box]("rayo.reservedtest.Box", func(n int) *Box { return &Box{N: n} })
	// BoxN returns the box's number.
	BoxN = rayo.RegisterMethod[int](BoxType, "N", func(b *Box) int { return b.N })
)
