//go:build !race

package sockio

func read(fd int, p []byte) (int, error) { return rawRead(fd, p) }
func send(fd int, p []byte) (int, error) { return rawSend(fd, p) }
