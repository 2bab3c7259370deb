package rayo

import (
	"fmt"
	"runtime"
	"strings"
)

// ReservedPrefix begins the names (task names, actor classes) that rayo's
// own libraries (Data, Train, Tune, Serve) register, so that a user's
// names never collide with theirs. Register and RegisterActor refuse such
// a name unless they are called from a package of the rayo module
// (github.com/rayo-dev/rayo/...). Ray keeps its libraries' names apart
// the same way, by their Python module paths.
const ReservedPrefix = "rayo."

const (
	rayoRoot   = "github.com/rayo-dev/rayo"
	rayoModule = rayoRoot + "/"
)

// checkReservedName panics, as a taken name does, when name is reserved
// and the registering code is not in the rayo module.
func checkReservedName(kind, name string) {
	if !strings.HasPrefix(name, ReservedPrefix) {
		return
	}
	if pkg := callerPackage(); !reservedAllowed(pkg) {
		panic(fmt.Sprintf("rayo: %s %q: names beginning with %q are reserved for rayo's libraries (registered from package %q); choose another name",
			kind, name, ReservedPrefix, pkg))
	}
}

// reservedAllowed says whether a package may register reserved names.
func reservedAllowed(pkg string) bool { return strings.HasPrefix(pkg, rayoModule) }

// callerPackage returns the package of the first caller outside this
// package (the public rayo package itself, which libraries call through,
// never counts as the registering code).
func callerPackage() string {
	var pcs [32]uintptr
	n := runtime.Callers(1, pcs[:]) // this package's own frames are skipped below
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if pkg := funcPackage(f.Function); pkg != rayoRoot && pkg != "runtime" && pkg != "" {
			return pkg
		}
		if !more {
			return ""
		}
	}
}

// funcPackage returns the import path of a function's package from its
// symbol name: "example.com/a/b.(*T).M.func1" → "example.com/a/b". Type
// arguments ("pkg.F[go.shape.int]", "pkg.F[...]") may hold dots and
// slashes, so they are cut first; a dot in the path's last element is
// escaped in symbols (%2e), so the first dot after the last slash ends the
// path.
func funcPackage(fn string) string {
	if i := strings.IndexByte(fn, '['); i >= 0 {
		fn = fn[:i]
	}
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}
