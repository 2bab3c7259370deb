package errs

// A task whose lease a node refused because the job's binary cannot run
// there fails with ErrBinaryMismatch; without a wire code the owner's
// TaskError came back as ErrTaskFailed.
func init() { codes["binary_mismatch"] = ErrBinaryMismatch }
