package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/klauspost/compress/zstd"
)

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t *testing.T, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// TestCompressedFiles: .gz and .zst CSV, JSON lines and text decompress
// by their extension (goleak checks that zstd's goroutine ends).
func TestCompressedFiles(t *testing.T) {
	dir := t.TempDir()
	csvBody := []byte("\ufeffa,b\n1,x\n2,y\n")
	jsonBody := []byte("{\"a\": 1}\n{\"a\": 2}\n")
	textBody := []byte("x\ny\n")
	for _, tc := range []struct {
		f    Format
		name string
		data []byte
		col  string
		want []string
	}{
		{CSV, "a.csv.gz", gz(t, csvBody), "b", []string{"x", "y"}},
		{CSV, "a.csv.zst", zst(t, csvBody), "a", []string{"1", "2"}},
		{JSON, "a.jsonl.GZ", gz(t, jsonBody), "a", []string{"1", "2"}},
		{JSON, "a.jsonl.zst", zst(t, jsonBody), "a", []string{"1", "2"}},
		{Text, "a.txt.gz", gz(t, textBody), "text", []string{"x", "y"}},
	} {
		p := filepath.Join(dir, tc.name)
		writeFile(t, p, tc.data)
		tb := mustRead(t, tc.f, []Unit{{Path: p}}, DefaultOptions())
		if !slices.Equal(tb.col(tc.col), tc.want) {
			t.Errorf("%s: %s = %v, want %v", tc.name, tc.col, tb.col(tc.col), tc.want)
		}
	}
	// Damaged: a bad header, and a good header over a cut-off body.
	full := gz(t, bytes.Repeat([]byte("abcdefgh\n"), 1000))
	for name, data := range map[string][]byte{
		"bad.csv.gz":  []byte("not gzip at all"),
		"cut.txt.gz":  full[:len(full)/2],
		"bad.json.gz": []byte{0x1f, 0x8b, 8, 0, 0, 0},
		"bad.txt.zst": []byte("not zstd"),
	} {
		p := filepath.Join(dir, name)
		writeFile(t, p, data)
		f := Text
		if strings.Contains(name, ".csv") {
			f = CSV
		} else if strings.Contains(name, ".json") {
			f = JSON
		}
		err := Read(context.Background(), f, Unit{Path: p}, DefaultOptions(), func(arrow.RecordBatch) error { return nil })
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrCorrupt naming it", name, err)
		}
	}
}
