package compute

import (
	"math/bits"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
)

// HashPartition splits rec into n parts by the hash of its key columns
// (Ray Data's hash shuffle map task): rows with equal keys land in the
// same part in every block and every process, and each part keeps the
// rows' order.
func HashPartition(rec arrow.Record, keys []string, n int) (_ []arrow.Record, err error) {
	defer guard(&err)
	if n < 1 {
		return nil, badArg("%d parts: need at least 1", n)
	}
	if len(keys) == 0 {
		return nil, badArg("hash partition with no keys")
	}
	k, err := NewKeys(rec, keys)
	if err != nil {
		return nil, err
	}
	h := k.Hashes(nil)
	part := make([]int32, len(h))
	for i, x := range h {
		hi, _ := bits.Mul64(x, uint64(n)) // Lemire's fast range reduction
		part[i] = int32(hi)
	}
	return splitByPart(rec, part, n)
}

// RandomPartition splits rec into n parts, each row to a part drawn at
// random from the seed (Ray Data's random_shuffle map task); each part
// keeps the rows' order. The same seed gives the same parts.
func RandomPartition(rec arrow.Record, n int, seed uint64) (_ []arrow.Record, err error) {
	defer guard(&err)
	if n < 1 {
		return nil, badArg("%d parts: need at least 1", n)
	}
	if err := checkRows(rec.NumRows()); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, seed^0xda942042e4dd58b5))
	part := make([]int32, rec.NumRows())
	for i := range part {
		part[i] = int32(r.Uint64N(uint64(n)))
	}
	return splitByPart(rec, part, n)
}

// Shuffle returns rec's rows in a random order drawn from the seed (Ray
// Data's random_shuffle within a block): the same seed gives the same
// order.
func Shuffle(rec arrow.Record, seed uint64) (_ arrow.Record, err error) {
	defer guard(&err)
	if err := checkRows(rec.NumRows()); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	idx := make([]int32, rec.NumRows())
	for i := range idx {
		idx[i] = int32(i)
	}
	r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	return takeRecord(rec, idx)
}

// splitByPart gathers rec's rows into n records by part[i], stably (a
// counting sort of the row indices).
func splitByPart(rec arrow.Record, part []int32, n int) ([]arrow.Record, error) {
	start := make([]int32, n+1)
	for _, p := range part {
		start[p+1]++
	}
	for j := range n {
		start[j+1] += start[j]
	}
	pos := append([]int32(nil), start[:n]...)
	idx := make([]int32, len(part))
	for i, p := range part {
		idx[pos[p]] = int32(i)
		pos[p]++
	}
	out := make([]arrow.Record, 0, n)
	for j := range n {
		r, err := takeRecord(rec, idx[start[j]:start[j+1]])
		if err != nil {
			for _, o := range out {
				o.Release()
			}
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
