package codec

import "testing"

type benchRecord struct {
	ID     string
	Values []float64
	Tags   map[string]string
	Count  int
}

// Regression guards for the encoding on every call's path.

func BenchmarkMarshalSmall(b *testing.B) {
	v := benchRecord{ID: "abc", Values: []float64{1, 2, 3}, Tags: map[string]string{"k": "v"}, Count: 7}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Marshal(&v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalSmall(b *testing.B) {
	data, _ := Marshal(&benchRecord{ID: "abc", Values: []float64{1, 2, 3}, Tags: map[string]string{"k": "v"}, Count: 7})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var v benchRecord
		if err := Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawDecode1MiB: decoding a stored []float64 is a view, not a
// copy, whatever its size.
func BenchmarkRawDecode1MiB(b *testing.B) {
	data, _ := MarshalRaw(make([]float64, 1<<17))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var v []float64
		if err := Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}
