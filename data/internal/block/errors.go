package block

// RegisterErrors registers the package's sentinels with register (the
// public rayo.RegisterError), so that errors.Is keeps working when a task
// that reads a block fails with one of them and the caller gets a
// *rayo.TaskError. The package that runs block tasks (data) calls it at
// init, in the driver and in every worker; block itself does not import
// rayo, so that it needs nothing beyond Arrow.
func RegisterErrors(register func(name string, err error)) {
	register("rayo.data.block.ErrCorrupt", ErrCorrupt)
	register("rayo.data.block.ErrMisaligned", ErrMisaligned)
	register("rayo.data.block.ErrUnsupportedType", ErrUnsupportedType)
	register("rayo.data.block.ErrNilRecord", ErrNilRecord)
}
