package data

import (
	"context"
	"fmt"
)

// barrierSpec is an all-to-all operator as a plan holds it: what to do
// once every input block is in (shuffles, sorts, aggregations, joins).
type barrierSpec struct {
	Kind string `msgpack:"k"`
}

// run executes the operator over its inputs inside a running plan.
func (b *barrierSpec) run(ctx context.Context, ex *executor, in []blockRef) ([]blockRef, error) {
	return nil, fmt.Errorf("%w: unknown all-to-all operator %q", ErrInvalidArgument, b.Kind)
}
