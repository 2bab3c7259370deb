package block

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// Errors of the block format. Each error from Encode or Decode wraps one
// of them (errors.Is).
var (
	// ErrCorrupt: the bytes are not a well-formed block (truncated,
	// damaged, or not a block at all).
	ErrCorrupt = errors.New("block: corrupt block")
	// ErrMisaligned: Decode's input does not start at a multiple of 8
	// bytes, so its columns cannot be read in place.
	ErrMisaligned = errors.New("block: block not 8-byte aligned")
	// ErrUnsupportedType: a column has an Arrow type blocks do not carry
	// (dictionary, union, run-end encoded, view and extension types).
	ErrUnsupportedType = errors.New("block: unsupported column type")
	// ErrNilRecord: Encode was given a nil record batch.
	ErrNilRecord = errors.New("block: nil record batch")
)

// Alignment is the alignment Decode needs of its input: Arrow IPC's
// (Ray Data has no such check; pyarrow copies a misaligned buffer).
const Alignment = 8

// Meta describes a block: Ray Data's BlockMetadata (num_rows, size_bytes,
// schema).
type Meta struct {
	Rows   int64         // number of rows
	Bytes  int64         // size of the encoded block
	Schema *arrow.Schema // column names and types
}

// Encode writes rec as a block: the Arrow IPC file format holding one
// record batch. Ray Data's equivalent is putting a pyarrow.Table block in
// the object store.
func Encode(rec arrow.Record) ([]byte, error) { return EncodeSized(rec, 0) }

// EncodeSized is Encode with the size of rec's data, when the caller
// knows it: the block's buffer is allocated once instead of grown (and
// copied) while it is written.
func EncodeSized(rec arrow.Record, dataBytes int64) ([]byte, error) {
	if rec == nil {
		return nil, ErrNilRecord
	}
	if err := checkSchema(rec.Schema()); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if dataBytes > 0 {
		// Room for the header, the schema and footer, and Arrow's 8-byte
		// padding of every buffer.
		buf.Grow(int(dataBytes) + HeaderSize + 4096 + 64*int(rec.NumCols()))
	}
	buf.Write(make([]byte, HeaderSize))
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err != nil {
		return nil, fmt.Errorf("block: encode: %w", err)
	}
	if err := w.Write(rec); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("block: encode: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("block: encode: %w", err)
	}
	b := buf.Bytes()
	if err := seal(b); err != nil {
		return nil, fmt.Errorf("block: encode: %w", err)
	}
	return b, nil
}

// corrupt returns an error wrapping ErrCorrupt that says what is wrong
// with a block of n bytes.
func corrupt(n int, format string, args ...any) error {
	return fmt.Errorf("%w (%d bytes): %s", ErrCorrupt, n, fmt.Sprintf(format, args...))
}

// Decode reads the block b in place: the returned record batch's column
// buffers are slices of b, so it is valid only while b is, and b must not
// be modified while it is in use. The caller releases it (Release). Ray
// Data reads blocks from the object store zero-copy in the same way.
//
// A truncated or damaged b fails with an error wrapping ErrCorrupt (and
// ErrUnsupportedType for a column type blocks do not carry); a b that does
// not start at a multiple of Alignment fails with ErrMisaligned.
func Decode(b []byte) (rec arrow.Record, err error) {
	if len(b) < HeaderSize {
		return nil, corrupt(len(b), "shorter than the %d-byte header", HeaderSize)
	}
	if uintptr(unsafe.Pointer(&b[0]))%Alignment != 0 {
		return nil, fmt.Errorf("%w: starts at address %#x", ErrMisaligned, uintptr(unsafe.Pointer(&b[0])))
	}
	file, err := unseal(b)
	if err != nil {
		return nil, err
	}
	// Last line of defence: arrow-go reads flatbuffers without bounds
	// checks in places; what the checksum, validate and arrow's own checks
	// miss must still be an error, not a crash of the user's program.
	// (No test reaches it: TestDecodeDamaged passes without it.)
	defer func() {
		if p := recover(); p != nil {
			if rec != nil {
				rec.Release()
			}
			rec, err = nil, corrupt(len(b), "%v", p)
		}
	}()
	r, err := ipc.NewMappedFileReader(file, ipc.WithAllocator(noAlloc{}))
	if err != nil {
		return nil, corrupt(len(b), "%v", err)
	}
	defer r.Close()
	if n := r.NumRecords(); n != 1 {
		return nil, corrupt(len(b), "%d record batches, want 1", n)
	}
	if err := checkSchema(r.Schema()); err != nil {
		return nil, fmt.Errorf("%w (%d bytes): %w", ErrCorrupt, len(b), err)
	}
	rec, err = r.RecordAt(0)
	if err != nil {
		return nil, corrupt(len(b), "%v", err)
	}
	if err := validateRecord(rec); err != nil {
		rec.Release()
		return nil, corrupt(len(b), "%v", err)
	}
	return rec, nil
}

// Stat returns b's metadata, after checking b as Decode does (in place,
// so it costs no copy): Ray Data's BlockAccessor.get_metadata.
func Stat(b []byte) (Meta, error) {
	rec, err := Decode(b)
	if err != nil {
		return Meta{}, err
	}
	defer rec.Release()
	return Meta{Rows: rec.NumRows(), Bytes: int64(len(b)), Schema: rec.Schema()}, nil
}

// noAlloc is the allocator Decode gives arrow: reading in place needs no
// memory, so an allocation is a bug (a copy) and fails the decode (arrow
// turns the panic into an error).
type noAlloc struct{}

func (noAlloc) Allocate(int) []byte { panic("block: in-place decode tried to allocate") }
func (noAlloc) Reallocate(int, []byte) []byte {
	panic("block: in-place decode tried to allocate")
}
func (noAlloc) Free([]byte) {}
