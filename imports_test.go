package rayo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The trees that must be written on the public API, as a user's code is
// (DESIGN.md, "The libraries"): they may import github.com/rayo-dev/rayo
// and the module's other public packages, and a library its own
// <lib>/internal/, but nothing under github.com/rayo-dev/rayo/internal/.
var publicAPITrees = []string{"data", "train", "tune", "serve", "collective", "examples"}

const rayoInternal = "github.com/rayo-dev/rayo/internal"

// listedPackage is the part of `go list -json` the check reads.
type listedPackage struct {
	Name       string
	ImportPath string
	Imports    []string
	DepOnly    bool
	Error      *struct{ Err string }
}

// internalImports returns "pkg imports internal" for each package the
// patterns matched (`go list -deps` also lists their dependencies, marked
// DepOnly: the rayo API among them, which imports internal by right) that
// imports rayo's internal packages directly. Direct imports are enough: every package of a tree is listed
// itself (its <lib>/internal/ included), and what a tree reaches through a
// public package (the rayo API, collective/) is that package's business,
// as it would be for a user.
func internalImports(pkgs []listedPackage) []string {
	var bad []string
	for _, p := range pkgs {
		if p.DepOnly {
			continue
		}
		for _, imp := range p.Imports {
			if imp == rayoInternal || strings.HasPrefix(imp, rayoInternal+"/") {
				bad = append(bad, p.ImportPath+" imports "+imp)
			}
		}
	}
	return bad
}

// decodeListing reads the stream of JSON objects `go list -json` prints.
func decodeListing(r io.Reader) ([]listedPackage, error) {
	var out []listedPackage
	dec := json.NewDecoder(r)
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
}

func TestInternalImportsChecker(t *testing.T) {
	// The checker itself, on a listing in go list's format: it must flag
	// the two packages that reach into rayo/internal and nothing else.
	listing := `
{"ImportPath": "github.com/rayo-dev/rayo/data", "Imports": ["context", "github.com/rayo-dev/rayo", "github.com/rayo-dev/rayo/data/internal/plan"]}
{"ImportPath": "github.com/rayo-dev/rayo/data/internal/plan", "Imports": ["github.com/rayo-dev/rayo/internal/codec"]}
{"ImportPath": "github.com/rayo-dev/rayo/examples/bad", "Imports": ["fmt", "github.com/rayo-dev/rayo/internal"]}
{"ImportPath": "github.com/rayo-dev/rayo/examples/fine", "Imports": ["github.com/rayo-dev/rayo", "github.com/rayo-dev/rayo/internalish", "github.com/rayo-dev/rayo/collective"]}
{"ImportPath": "github.com/rayo-dev/rayo", "Imports": ["github.com/rayo-dev/rayo/internal/core"], "DepOnly": true}
`
	pkgs, err := decodeListing(strings.NewReader(listing))
	if err != nil || len(pkgs) != 5 {
		t.Fatalf("decoding the fixture: %d packages, %v", len(pkgs), err)
	}
	want := []string{
		"github.com/rayo-dev/rayo/data/internal/plan imports github.com/rayo-dev/rayo/internal/codec",
		"github.com/rayo-dev/rayo/examples/bad imports github.com/rayo-dev/rayo/internal",
	}
	if got := internalImports(pkgs); !slices.Equal(got, want) {
		t.Fatalf("internalImports on the fixture:\n got %q\nwant %q", got, want)
	}
	if got := internalImports(pkgs[3:]); len(got) != 0 {
		t.Fatalf("internalImports flagged clean packages: %q", got)
	}
}

// TestNoInternalImports fails the build when a library or an example
// imports rayo's internal packages.
func TestNoInternalImports(t *testing.T) {
	var patterns []string
	for _, dir := range publicAPITrees {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			patterns = append(patterns, "./"+dir+"/...")
		}
	}
	if !slices.Contains(patterns, "./examples/...") {
		t.Fatal("examples/ is missing: the check would look at nothing")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(gobin, append([]string{"list", "-e", "-deps", "-json"}, patterns...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list %v: %v\n%s", patterns, err, stderr.Bytes())
	}
	pkgs, err := decodeListing(&stdout)
	if err != nil {
		t.Fatalf("reading go list's output: %v", err)
	}
	// The listing is real: every example program is there and imports the
	// API (an example's helper package, such as a model, need not).
	sawExample := false
	for _, p := range pkgs {
		if p.Error != nil {
			t.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		if strings.HasPrefix(p.ImportPath, "github.com/rayo-dev/rayo/examples/") && p.Name == "main" {
			sawExample = true
			if !slices.Contains(p.Imports, "github.com/rayo-dev/rayo") {
				t.Errorf("%s does not import github.com/rayo-dev/rayo: is go list's output read right? imports %q", p.ImportPath, p.Imports)
			}
		}
	}
	if !sawExample {
		t.Fatalf("go list %v listed no example (%d packages)", patterns, len(pkgs))
	}
	for _, v := range internalImports(pkgs) {
		t.Errorf("%s: libraries and examples use the public API only (DESIGN.md, \"The libraries\")", v)
	}
}
