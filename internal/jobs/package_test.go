package jobs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one tar entry a test writes by hand (what a hostile client
// could send; Pack would never make most of these).
type entry struct {
	name, body, link string
	typ              byte
	size             int64 // header size when it must differ from len(body)
	fill             bool  // write size zero bytes
}

func tarball(t *testing.T, entries ...entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(e.body))
		if e.size != 0 {
			size = e.size
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Mode: 0o644, Size: size}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		body := []byte(e.body)
		if e.fill {
			body = make([]byte, e.size)
		}
		if typ == tar.TypeReg && (e.size == 0 || e.fill) {
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A header that lies about its size cannot be closed cleanly; the
	// reader fails on it first anyway.
	_ = tw.Close()
	_ = gz.Close()
	return &buf
}

func TestUnpackRefusesUnsafeEntries(t *testing.T) {
	cases := map[string]struct {
		entries []entry
		want    error
	}{
		"dot-dot":               {[]entry{{name: "../evil", body: "x"}}, ErrUnsafePath},
		"dot-dot inside":        {[]entry{{name: "a/../../evil", body: "x"}}, ErrUnsafePath},
		"absolute":              {[]entry{{name: "/tmp/evil", body: "x"}}, ErrUnsafePath},
		"absolute symlink":      {[]entry{{name: "l", typ: tar.TypeSymlink, link: "/etc"}}, ErrUnsafePath},
		"symlink out":           {[]entry{{name: "l", typ: tar.TypeSymlink, link: "../.."}}, ErrUnsafePath},
		"nested symlink out":    {[]entry{{name: "a/b/l", typ: tar.TypeSymlink, link: "../../../x"}}, ErrUnsafePath},
		"write through symlink": {[]entry{{name: "l", typ: tar.TypeSymlink, link: "."}, {name: "l/../../evil", body: "x"}}, ErrUnsafePath},
		"chain of symlinks out": {[]entry{{name: "a/b/c", typ: tar.TypeSymlink, link: "../.."}, {name: "y", typ: tar.TypeSymlink, link: "a/b/c/.."}}, ErrUnsafePath},
		"dangling chain out":    {[]entry{{name: "a/b/c", typ: tar.TypeSymlink, link: "../.."}, {name: "y", typ: tar.TypeSymlink, link: "a/b/c/../nothere"}}, ErrUnsafePath},
		"hard link":             {[]entry{{name: "f", body: "x"}, {name: "h", typ: tar.TypeLink, link: "f"}}, ErrUnsafePath},
		"device":                {[]entry{{name: "dev", typ: tar.TypeChar}}, ErrUnsafePath},
		"fifo":                  {[]entry{{name: "p", typ: tar.TypeFifo}}, ErrUnsafePath},
		"too large":             {[]entry{{name: "big", size: MaxPackageSize + 1}}, ErrPackageTooLarge},
		"too large in sum":      {[]entry{{name: "a", size: MaxPackageSize / 2, fill: true}, {name: "b", size: MaxPackageSize/2 + 1}}, ErrPackageTooLarge},
		"truncated file":        {[]entry{{name: "short", size: 10}}, ErrBadPackage},
		"file under a file":     {[]entry{{name: "f", body: "x"}, {name: "f/g", body: "y"}}, nil}, // any error
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "wd")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			err := Unpack(tarball(t, tc.entries...), dir)
			if tc.want == nil {
				if err == nil {
					t.Fatal("unpacked; want an error")
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("got %v; want %v", err, tc.want)
			}
			// Nothing landed beside the working directory.
			ents, _ := os.ReadDir(parent)
			if len(ents) != 1 {
				t.Fatalf("the parent holds %d entries, want only wd", len(ents))
			}
		})
	}
}

func TestUnpackRefusesGarbage(t *testing.T) {
	if err := Unpack(strings.NewReader("not gzip at all"), t.TempDir()); !errors.Is(err, ErrBadPackage) {
		t.Fatalf("got %v; want ErrBadPackage", err)
	}
}

func TestPackUnpackRoundTrip(t *testing.T) {
	src := t.TempDir()
	write := func(name, body string, mode os.FileMode) {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("run.sh", "#!/bin/sh\necho hi\n", 0o755)
	write("data/in.txt", "input", 0o644)
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("data/in.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run.sh", filepath.Join(src, "data", "up")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Pack(src, &buf); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Unpack(&buf, dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"run.sh": "#!/bin/sh\necho hi\n", "data/in.txt": "input", "link": "input", "data/up": "#!/bin/sh\necho hi\n"} {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(dst, "run.sh")); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh lost its executable bit: %v %v", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Join(dst, "empty")); err != nil || !st.IsDir() {
		t.Errorf("the empty directory is missing: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "data/in.txt" {
		t.Errorf("link: %q, %v", l, err)
	}
}

func TestPackRefuses(t *testing.T) {
	t.Run("symlink out", func(t *testing.T) {
		src := t.TempDir()
		if err := os.Symlink("../outside", filepath.Join(src, "l")); err != nil {
			t.Fatal(err)
		}
		if err := Pack(src, &bytes.Buffer{}); !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("got %v; want ErrUnsafePath", err)
		}
	})
	t.Run("absolute symlink", func(t *testing.T) {
		src := t.TempDir()
		if err := os.Symlink("/etc/passwd", filepath.Join(src, "l")); err != nil {
			t.Fatal(err)
		}
		if err := Pack(src, &bytes.Buffer{}); !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("got %v; want ErrUnsafePath", err)
		}
	})
	t.Run("socket", func(t *testing.T) {
		src := t.TempDir()
		ln, err := net.Listen("unix", filepath.Join(src, "sock"))
		if err != nil {
			t.Skip("no unix sockets here:", err)
		}
		defer ln.Close()
		if err := Pack(src, &bytes.Buffer{}); !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), "sock") {
			t.Fatalf("got %v; want ErrUnsafePath naming sock", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		src := t.TempDir()
		f, err := os.Create(filepath.Join(src, "big"))
		if err != nil {
			t.Fatal(err)
		}
		// Sparse: the size counts, not the disk.
		if err := f.Truncate(MaxPackageSize + 1); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		var buf bytes.Buffer
		if err := Pack(src, &buf); !errors.Is(err, ErrPackageTooLarge) || !strings.Contains(err.Error(), "100 MiB") {
			t.Fatalf("got %v; want ErrPackageTooLarge saying the limit", err)
		}
		if buf.Len() != 0 {
			t.Fatalf("Pack wrote %d bytes before refusing", buf.Len())
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Pack(f, &bytes.Buffer{}); err == nil {
			t.Fatal("packed a file")
		}
	})
}
