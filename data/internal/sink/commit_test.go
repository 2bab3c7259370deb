package sink_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/rayo-dev/rayo/data/internal/sink"
)

// stage writes one small CSV file per name into write id's staging.
func stage(t *testing.T, dir, id string, rels ...string) {
	t.Helper()
	rec := makeRec(t, 0, 2)
	defer rec.Release()
	for _, rel := range rels {
		if _, _, err := sink.WriteFile(context.Background(), sink.CSV, sink.StagingPath(dir, id, rel), testSchema,
			sink.Records([]arrow.RecordBatch{rec}), sink.Options{}); err != nil {
			t.Fatalf("stage %s: %v", rel, err)
		}
	}
}

func put(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCommitModeError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	// A fresh directory, and an existing empty one, are accepted.
	if err := sink.Begin(dir, "a", sink.ModeError); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(sink.StagingDir(dir, "a")); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("staging dir: %v, %v; want mode 0700", st, err)
	}
	stage(t, dir, "a", "part-000000.csv", "part-000001.csv", "x=1/part-000002-0000.csv")
	stage(t, dir, "a", "part-000009.csv") // a failed attempt's file: not committed
	finals, err := sink.Commit(dir, "a", []string{"part-000000.csv", "part-000001.csv", "x=1/part-000002-0000.csv"}, sink.ModeError)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"part-000000.csv", "part-000001.csv", "x=1/part-000002-0000.csv"}
	if got := tree(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("dir holds %v, want %v", got, want)
	}
	if finals[2] != filepath.Join(dir, "x=1", "part-000002-0000.csv") {
		t.Fatalf("finals %v", finals)
	}
	if st, _ := os.Stat(finals[0]); st.Mode().Perm() != 0o644 {
		t.Fatalf("final mode %v", st.Mode().Perm())
	}

	// A second write into the directory fails before any work.
	err = sink.Begin(dir, "b", sink.ModeError)
	var se *sink.Error
	if !errors.Is(err, sink.ErrExists) || !errors.As(err, &se) || se.Path == "" {
		t.Fatalf("Begin on a directory with output: %v, want ErrExists naming a file", err)
	}
	if _, err := os.Stat(sink.StagingDir(dir, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused Begin made a staging dir: %v", err)
	}
}

// TestCommitNoReplace: a final name that exists (here made after Begin)
// fails the commit with ErrExists and moves nothing.
func TestCommitNoReplace(t *testing.T) {
	for _, mode := range []sink.Mode{sink.ModeError, sink.ModeAppend} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := sink.Begin(dir, "c", mode); err != nil {
				t.Fatal(err)
			}
			stage(t, dir, "c", "part-000000.csv", "part-000001.csv")
			clash := "part-000001.csv"
			if mode == sink.ModeAppend {
				clash = sink.AppendName(clash, "c")
			}
			put(t, dir, map[string]string{clash: "theirs"})
			_, err := sink.Commit(dir, "c", []string{"part-000000.csv", "part-000001.csv"}, mode)
			var se *sink.Error
			if !errors.Is(err, sink.ErrExists) || !errors.As(err, &se) || se.Path != filepath.Join(dir, clash) {
				t.Fatalf("Commit: %v, want ErrExists naming %s", err, clash)
			}
			if got := tree(t, dir); len(got) != 3 || read(t, filepath.Join(dir, clash)) != "theirs" {
				t.Fatalf("dir holds %v after a refused commit (want the staged files still staged)", got)
			}
			if err := sink.Abort(dir, "c"); err != nil {
				t.Fatal(err)
			}
			if got := tree(t, dir); len(got) != 1 {
				t.Fatalf("after Abort: %v", got)
			}
		})
	}
}

func TestCommitOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	put(t, dir, map[string]string{
		"part-000000.csv":              "old0",
		"part-000001.parquet":          "old1",
		"k=a/part-000000-0000.csv":     "olda",
		"k=b/part-000000-0000.json":    "oldb",
		"README":                       "mine",
		"_SUCCESS":                     "",
		"notes/part-000000.csv":        "not a hive dir: kept",
		"k=b/keep.txt":                 "kept, and so is k=b",
		".hidden/part-000003.csv":      "hidden: kept",
		"part-000002.csv.orig":         "not a part file: kept",
		"k=c/z=1/part-000000-0000.csv": "oldc",
	})
	if err := sink.Begin(dir, "o", sink.ModeOverwrite); err != nil {
		t.Fatal(err)
	}
	stage(t, dir, "o", "part-000000.csv", "k=a/part-000001-0000.csv")
	if _, err := sink.Commit(dir, "o", []string{"part-000000.csv", "k=a/part-000001-0000.csv"}, sink.ModeOverwrite); err != nil {
		t.Fatal(err)
	}
	want := []string{".hidden/part-000003.csv", "README", "_SUCCESS", "k=a/part-000001-0000.csv", "k=b/keep.txt",
		"notes/part-000000.csv", "part-000000.csv", "part-000002.csv.orig"}
	if got := tree(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after overwrite\n%v\nwant\n%v", got, want)
	}
	if !strings.HasPrefix(read(t, filepath.Join(dir, "part-000000.csv")), "id,name,score\n") {
		t.Fatal("part-000000.csv was not replaced")
	}
	if _, err := os.Stat(filepath.Join(dir, "k=c")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("emptied hive dir k=c kept: %v", err)
	}
}

func TestCommitAppend(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	for _, id := range []string{"first", "second"} {
		if err := sink.Begin(dir, id, sink.ModeAppend); err != nil {
			t.Fatal(err)
		}
		stage(t, dir, id, "part-000000.csv", "k=1/part-000000-0000.csv")
		if _, err := sink.Commit(dir, id, []string{"part-000000.csv", "k=1/part-000000-0000.csv"}, sink.ModeAppend); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"k=1/part-first-000000-0000.csv", "k=1/part-second-000000-0000.csv",
		"part-first-000000.csv", "part-second-000000.csv"}
	if got := tree(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after two appends\n%v\nwant\n%v", got, want)
	}
}

func TestAbort(t *testing.T) {
	dir := begin(t, "x")
	stage(t, dir, "x", "part-000000.csv", "k=2/part-000001-0003.csv")
	if err := sink.Abort(dir, "x"); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, dir); len(got) != 0 {
		t.Fatalf("after Abort: %v", got)
	}
	// A task still running after Abort fails and does not bring the
	// staging directory back.
	rec := makeRec(t, 0, 1)
	defer rec.Release()
	_, _, err := sink.WriteFile(context.Background(), sink.JSON, sink.StagingPath(dir, "x", "k=3/part-000002-0000.json"),
		testSchema, sink.Records([]arrow.RecordBatch{rec}), sink.Options{})
	if !errors.Is(err, sink.ErrAborted) {
		t.Fatalf("write after Abort: %v, want ErrAborted", err)
	}
	if _, err := os.Stat(sink.StagingDir(dir, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("staging dir came back: %v", err)
	}
	// Commit after Abort, and a second Abort.
	if _, err := sink.Commit(dir, "x", []string{"part-000000.csv"}, sink.ModeError); !errors.Is(err, sink.ErrAborted) {
		t.Fatalf("Commit after Abort: %v", err)
	}
	if err := sink.Abort(dir, "x"); err != nil {
		t.Fatal(err)
	}
}

func TestCommitBadInput(t *testing.T) {
	dir := begin(t, "ok")
	stage(t, dir, "ok", "part-000000.csv")
	cases := []struct {
		name  string
		id    string
		files []string
		mode  sink.Mode
		want  error
	}{
		{"empty id", "", []string{"part-000000.csv"}, sink.ModeError, sink.ErrInvalid},
		{"id with slash", "a/b", []string{"part-000000.csv"}, sink.ModeError, sink.ErrInvalid},
		{"id with dots", "..", []string{"part-000000.csv"}, sink.ModeError, sink.ErrInvalid},
		{"long id", strings.Repeat("a", 65), []string{"part-000000.csv"}, sink.ModeError, sink.ErrInvalid},
		{"bad mode", "ok", []string{"part-000000.csv"}, sink.Mode(7), sink.ErrInvalid},
		{"escaping name", "ok", []string{"../part-000000.csv"}, sink.ModeError, sink.ErrInvalid},
		{"absolute name", "ok", []string{"/etc/passwd"}, sink.ModeError, sink.ErrInvalid},
		{"unclean name", "ok", []string{"a//part-000000.csv"}, sink.ModeError, sink.ErrInvalid},
		{"hidden name", "ok", []string{".rayo-staging-ok/part-000000.csv"}, sink.ModeError, sink.ErrInvalid},
		{"listed twice", "ok", []string{"part-000000.csv", "part-000000.csv"}, sink.ModeError, sink.ErrInvalid},
		{"not staged", "ok", []string{"part-000000.csv", "part-000001.csv"}, sink.ModeError, sink.ErrWrite},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := sink.Commit(dir, c.id, c.files, c.mode); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if got := tree(t, dir); len(got) != 1 || got[0] != ".rayo-staging-ok/part-000000.csv" {
				t.Fatalf("dir holds %v", got)
			}
		})
	}
	if err := sink.Begin(dir, "ok", sink.Mode(-1)); !errors.Is(err, sink.ErrInvalid) {
		t.Fatalf("Begin with a bad mode: %v", err)
	}
	if err := sink.Abort(dir, "../x"); !errors.Is(err, sink.ErrInvalid) {
		t.Fatalf("Abort with a bad id: %v", err)
	}
	if _, err := sink.ParseMode("upsert"); !errors.Is(err, sink.ErrInvalid) {
		t.Fatalf("ParseMode: %v", err)
	}
	for s, m := range map[string]sink.Mode{"": sink.ModeError, "error": sink.ModeError, "Overwrite": sink.ModeOverwrite, "append": sink.ModeAppend} {
		if got, err := sink.ParseMode(s); err != nil || got != m {
			t.Fatalf("ParseMode(%q) = %v, %v", s, got, err)
		}
	}
}

func TestRegisterErrors(t *testing.T) {
	names := map[string]error{}
	sink.RegisterErrors(func(name string, err error) {
		if _, dup := names[name]; dup || err == nil || !strings.HasPrefix(name, "rayo.data.sink.") {
			t.Fatalf("bad registration %q %v", name, err)
		}
		names[name] = err
	})
	for _, e := range []error{sink.ErrExists, sink.ErrWrite, sink.ErrNoColumn, sink.ErrUnsupported,
		sink.ErrSchemaMismatch, sink.ErrInvalid, sink.ErrAborted} {
		found := false
		for _, r := range names {
			found = found || r == e
		}
		if !found {
			t.Fatalf("%v not registered", e)
		}
	}
}
