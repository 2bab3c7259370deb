package collective

// Transport is "shm" or "tcp": which transport the Comm's group uses.
func Transport(c *Comm) string { return c.transport() }

// WithShmPiece sets the shared segment's piece size (rank 0's is the
// group's), so that tests take the many-piece paths with small buffers.
var WithShmPiece = withShmPiece

// SegmentPrefix is the path prefix of the group's segment files in the
// directory this process would create them in.
func SegmentPrefix(group string) string { return shmDir() + "/" + segPrefix(group) }
