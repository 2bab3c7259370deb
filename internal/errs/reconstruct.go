package errs

import "errors"

// ErrObjectReconstructionFailed: a lost object was not rebuilt because
// its task's retries (MaxRetries, which reconstructions draw from as in
// Ray) are spent. Distinct from ErrObjectLost, which says an object has
// no lineage to rebuild it from.
var ErrObjectReconstructionFailed = errors.New("rayo: object reconstruction failed: the task's retries are spent")

func init() {
	RegisterError("rayo.ErrObjectReconstructionFailed", ErrObjectReconstructionFailed)
}
