package block

// Sealed puts a block header in front of an IPC file written by the test,
// so that tests can hand Decode well-framed blocks that Encode would not
// write.
func Sealed(file []byte) ([]byte, error) {
	b := append(make([]byte, HeaderSize, HeaderSize+len(file)), file...)
	if err := seal(b); err != nil {
		return nil, err
	}
	return b, nil
}
