package mlp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
)

// magic opens every model file; its last byte is the format's version.
var magic = [8]byte{'R', 'A', 'Y', 'O', 'M', 'L', 'P', 1}

// headerLen is the magic and three uint32 dimensions.
const headerLen = len(magic) + 3*4

// MarshalBinary encodes the model: the magic, In, Hidden and Out as
// little-endian uint32, W1, B1, W2 and B2 as little-endian float32, and a
// CRC-32 (IEEE) of everything before it.
func (m *Model) MarshalBinary() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	n := len(m.W1) + len(m.B1) + len(m.W2) + len(m.B2)
	b := make([]byte, 0, headerLen+4*n+4)
	b = append(b, magic[:]...)
	for _, d := range []int{m.In, m.Hidden, m.Out} {
		b = binary.LittleEndian.AppendUint32(b, uint32(d))
	}
	for _, w := range [][]float32{m.W1, m.B1, m.W2, m.B2} {
		for _, v := range w {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

// check verifies that the weights' lengths match the dimensions.
func (m *Model) check() error {
	if err := checkDims(m.In, m.Hidden, m.Out); err != nil {
		return err
	}
	if len(m.W1) != m.In*m.Hidden || len(m.B1) != m.Hidden || len(m.W2) != m.Hidden*m.Out || len(m.B2) != m.Out {
		return fmt.Errorf("%w: weights of lengths %d, %d, %d, %d for %d→%d→%d", ErrShape,
			len(m.W1), len(m.B1), len(m.W2), len(m.B2), m.In, m.Hidden, m.Out)
	}
	return nil
}

// UnmarshalBinary decodes what MarshalBinary encoded; a bad input fails
// with ErrFormat or ErrCorrupt and leaves m unchanged.
func (m *Model) UnmarshalBinary(b []byte) error {
	if len(b) < len(magic) || !bytes.Equal(b[:len(magic)], magic[:]) {
		return fmt.Errorf("%w: no %q magic", ErrFormat, magic[:len(magic)-1])
	}
	if len(b) < headerLen+4 {
		return fmt.Errorf("%w: %d bytes, shorter than the header", ErrCorrupt, len(b))
	}
	var dims [3]int
	for i := range dims {
		dims[i] = int(binary.LittleEndian.Uint32(b[len(magic)+4*i:]))
	}
	in, hidden, out := dims[0], dims[1], dims[2]
	if err := checkDims(in, hidden, out); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	n := in*hidden + hidden + hidden*out + out
	if want := headerLen + 4*n + 4; len(b) != want {
		return fmt.Errorf("%w: %d bytes, want %d for %d→%d→%d", ErrCorrupt, len(b), want, in, hidden, out)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	w := make([]float32, n)
	for i := range w {
		w[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[headerLen+4*i:]))
	}
	*m = Model{In: in, Hidden: hidden, Out: out}
	m.W1, w = w[:in*hidden:in*hidden], w[in*hidden:]
	m.B1, w = w[:hidden:hidden], w[hidden:]
	m.W2, w = w[:hidden*out:hidden*out], w[hidden*out:]
	m.B2 = w
	return nil
}

// Load reads a model file written by Save. In Ray's batch-inference
// pattern this is what the callable class's __init__ does, once per actor.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	var m Model
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return &m, nil
}

// Save writes the model to path, through a temporary file renamed into
// place so that a reader never sees half a model.
func (m *Model) Save(path string) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return &FileError{Path: path, Err: err}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return &FileError{Path: path, Err: err}
	}
	// CreateTemp makes the file private; a model is as readable as any file.
	merr := tmp.Chmod(0o644)
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(merr, werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return &FileError{Path: path, Err: err}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return &FileError{Path: path, Err: err}
	}
	return nil
}
