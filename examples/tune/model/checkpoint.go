package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrBadCheckpoint is returned (wrapped) by UnmarshalBinary for bytes
// that are not a checkpoint of this format.
var ErrBadCheckpoint = errors.New("model: bad checkpoint")

// checkpointMagic starts every checkpoint; the last byte is the version.
var checkpointMagic = [4]byte{'s', 'p', 'm', 1}

// MarshalBinary returns a checkpoint of the model: its configuration,
// epoch count, weights, momentum and generator state, little-endian.
// The data set is not stored: it is remade from Config.Data.
func (m *Model) MarshalBinary() ([]byte, error) {
	rngState, err := m.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c := m.cfg
	b := append([]byte(nil), checkpointMagic[:]...)
	for _, f := range []float64{c.LR, c.Momentum, c.WeightDecay, c.Data.ValidFraction, c.Data.Noise, c.Data.Turns} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	for _, u := range []uint64{uint64(c.Hidden), uint64(c.BatchSize), c.Seed, uint64(c.Data.N), c.Data.Seed, uint64(m.epochs)} {
		b = binary.LittleEndian.AppendUint64(b, u)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(rngState)))
	b = append(b, rngState...)
	for _, xs := range [][]float64{m.params, m.velocity} {
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
	}
	return b, nil
}

// UnmarshalBinary replaces m with the model a checkpoint holds; it then
// predicts, and trains on, exactly as the model checkpointed.
func (m *Model) UnmarshalBinary(b []byte) error {
	r := reader{b: b}
	if magic := r.bytes(4); magic == nil || [4]byte(magic) != checkpointMagic {
		return fmt.Errorf("%w: not a spirals model checkpoint (version %d)", ErrBadCheckpoint, checkpointMagic[3])
	}
	var c Config
	for _, f := range []*float64{&c.LR, &c.Momentum, &c.WeightDecay, &c.Data.ValidFraction, &c.Data.Noise, &c.Data.Turns} {
		*f = math.Float64frombits(r.uint64())
	}
	var hidden, batch, n, epochs uint64
	for _, u := range []*uint64{&hidden, &batch, &c.Seed, &n, &c.Data.Seed, &epochs} {
		*u = r.uint64()
	}
	if r.err != nil {
		return r.err
	}
	if hidden > 4096 || batch > math.MaxInt32 || n > 10_000_000 || epochs > math.MaxInt32 {
		return fmt.Errorf("%w: sizes out of range", ErrBadCheckpoint)
	}
	c.Hidden, c.BatchSize, c.Data.N = int(hidden), int(batch), int(n)
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	rngState := r.bytes(int(min(r.uint64(), uint64(len(b)))))
	if r.err != nil {
		return r.err
	}
	restored := newUninitialised(c)
	if err := restored.pcg.UnmarshalBinary(rngState); err != nil {
		return fmt.Errorf("%w: generator state: %v", ErrBadCheckpoint, err)
	}
	for _, xs := range [][]float64{restored.params, restored.velocity} {
		for i := range xs {
			xs[i] = math.Float64frombits(r.uint64())
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the model", ErrBadCheckpoint, len(r.b))
	}
	restored.epochs = int(epochs)
	*m = *restored
	return nil
}

// reader reads a checkpoint, remembering the first short read.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrBadCheckpoint)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) uint64() uint64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}
