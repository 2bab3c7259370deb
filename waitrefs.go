package rayo

import (
	"context"
	"fmt"
	"time"

	"github.com/rayo-dev/rayo/internal/core"
	"github.com/rayo-dev/rayo/internal/errs"
)

// WaitRefs is Wait over references of different element types (an
// ObjectRef[int] beside an ObjectRef[string]), as Ray's ray.wait takes any
// mix of ObjectRefs. Its rules are Wait's: ready holds at most numReady
// refs, the first ready ones in the order of refs, and notReady the rest,
// in order; a ref whose submission failed is ready (its Get reports the
// error); a duplicate, or numReady outside 0..len(refs), is an
// ErrInvalidOption; a nil Ref is an ErrBadCall. The refs returned are the
// ones passed in: a type switch or assertion recovers their types.
func WaitRefs(ctx context.Context, refs []Ref, numReady int, timeout time.Duration) (ready, notReady []Ref, err error) {
	crs := make([]core.Ref, len(refs))
	for i, r := range refs {
		if r == nil {
			return nil, nil, fmt.Errorf("%w: WaitRefs: refs[%d] is nil", errs.ErrBadCall, i)
		}
		crs[i], _ = r.coreRef() // a failed one is the zero core.Ref
	}
	isReady, err := waitReady(ctx, crs, numReady, timeout)
	if err != nil {
		return nil, nil, err
	}
	ready, notReady = splitReady(refs, isReady, numReady)
	return ready, notReady, nil
}
