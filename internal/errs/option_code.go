package errs

// ErrInvalidOption crosses the wire: an actor call naming a concurrency
// group its actor lacks fails at the actor's worker, and the caller tests
// it with errors.Is.
func init() { codes["invalid_option"] = ErrInvalidOption }
