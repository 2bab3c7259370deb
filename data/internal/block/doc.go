// Package block is the block format of rayo Data: one Arrow record batch
// in the Arrow IPC file format, as Ray Data's blocks are Arrow tables held
// in Ray's object store.
//
// Encode writes a record batch; Decode reads one back in place: the
// decoded arrays' buffers are sub-slices of the input (arrow-go's mapped
// file reader, with an allocator that refuses to allocate, so that a copy
// cannot happen unnoticed). Decode validates what it reads (the IPC
// framing, every buffer's size against the array lengths, every offsets
// buffer against the data it indexes) so that a truncated or corrupt block
// gives an error wrapping ErrCorrupt, never a panic, neither in Decode nor
// later when the columns are read.
//
// Decode needs its input 8-byte aligned, as Arrow's IPC format lays out
// every buffer at a multiple of 8 from the start; rayo's object store gives
// a stored []byte at offset 8 of a 64-byte aligned allocation, so a block
// read from the store is aligned. A misaligned input fails with
// ErrMisaligned rather than being copied behind the caller's back.
package block
