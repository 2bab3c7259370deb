package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// stream is a CSV, JSON or text file opened for reading, decompressed when
// its name ends in .gz or .zst (as Ray Data infers the compression of
// read_csv, read_json and read_text from the extension), past a UTF-8
// byte order mark.
type stream struct {
	*bufio.Reader
	f     *os.File
	close func()
}

func (s *stream) Close() {
	if s.close != nil {
		s.close()
	}
	s.f.Close()
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// openStream opens path as a stream. A missing file is ErrNotFound, a
// compressed file whose header is wrong ErrCorrupt.
func openStream(path string) (*stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, wrapErr(ErrNotFound, path, err, "")
	}
	s := &stream{f: f}
	var r io.Reader = f
	switch low := strings.ToLower(path); {
	case strings.HasSuffix(low, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, wrapErr(ErrCorrupt, path, err, "gzip")
		}
		s.close = func() { zr.Close() }
		r = zr
	case strings.HasSuffix(low, ".zst"):
		// One decoding goroutine, closed with the stream: no goroutine
		// outlives the read.
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, wrapErr(ErrCorrupt, path, err, "zstd")
		}
		s.close = zr.Close
		r = zr
	}
	s.Reader = bufio.NewReaderSize(r, 1<<16)
	if b, err := s.Peek(3); err == nil && bytes.Equal(b, bom) {
		s.Discard(3)
	}
	return s, nil
}

// readErr classifies an error met while reading a stream: a damaged
// compressed file is ErrCorrupt; so is any other read failure after a
// successful open, as the file is then not what it should be.
func readErr(path string, err error) error {
	return wrapErr(ErrCorrupt, path, err, "read")
}
