package protocol

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/rayo-dev/rayo/internal/errs"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// repoRoot is the module's root, two levels above this package.
const repoRoot = "../.."

// TestCodeTableUnique: no two rows share a code or a sentinel (either would
// make errors.Is or the reverse lookup ambiguous), and every row is filled.
func TestCodeTableUnique(t *testing.T) {
	codes := map[string]bool{}
	sentinels := map[error]string{}
	for _, e := range Codes() {
		if e.Code == "" || e.Sentinel == nil {
			t.Errorf("row %+v is incomplete", e)
			continue
		}
		if codes[e.Code] {
			t.Errorf("code %q appears twice", e.Code)
		}
		codes[e.Code] = true
		if prev, dup := sentinels[e.Sentinel]; dup {
			t.Errorf("codes %q and %q share the sentinel %v", prev, e.Code, e.Sentinel)
		}
		sentinels[e.Sentinel] = e.Code
	}
	// rpc's table is the same table: nothing registered elsewhere.
	rt := rpc.Codes()
	if len(rt) != len(codes) {
		t.Errorf("rpc knows %d codes, the table has %d", len(rt), len(codes))
	}
	for _, e := range Codes() {
		if rt[e.Code] != e.Sentinel {
			t.Errorf("rpc maps %q to %v, the table to %v", e.Code, rt[e.Code], e.Sentinel)
		}
		if errs.SentinelOf(e.Code) != e.Sentinel || errs.CodeOf(e.Sentinel) != e.Code {
			t.Errorf("errs does not map %q and %v to each other", e.Code, e.Sentinel)
		}
	}
}

type codeReq struct{ Code string }

// TestCodesAcrossTheWire: a handler's error of each code reaches a client
// as an error that errors.Is matches with the code's sentinel and with no
// other row's.
func TestCodesAcrossTheWire(t *testing.T) {
	s := rpc.NewServer("tok", slog.New(slog.NewTextHandler(io.Discard, nil)))
	rpc.Register(s, "fail", func(_ context.Context, r *codeReq) (*Empty, error) {
		return nil, rpc.Errorf(r.Code, "failed with %s", r.Code)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = s.Serve(ln) }()
	defer func() { s.Close(); <-served }()
	ctx := context.Background()
	c, err := rpc.Dial(ctx, ln.Addr().String(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	table := Codes()
	for _, e := range table {
		err := c.Call(ctx, "fail", &codeReq{Code: e.Code}, nil)
		if rpc.CodeOf(err) != e.Code {
			t.Errorf("code %q arrived as %q (%v)", e.Code, rpc.CodeOf(err), err)
		}
		if !errors.Is(err, e.Sentinel) {
			t.Errorf("code %q: errors.Is(err, %v) is false", e.Code, e.Sentinel)
		}
		for _, o := range table {
			if o.Code != e.Code && errors.Is(err, o.Sentinel) {
				t.Errorf("code %q also matches %q's sentinel", e.Code, o.Code)
			}
		}
	}
	// A code outside the table matches no sentinel.
	if err := c.Call(ctx, "fail", &codeReq{Code: "no_such_code"}, nil); err == nil || errors.Is(err, errs.ErrTaskFailed) {
		t.Errorf("an unknown code: %v", err)
	}
}

// goFiles parses every non-test .go file of the module.
func goFiles(t *testing.T) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != repoRoot && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files[path] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found only %d Go files under %s", len(files), repoRoot)
	}
	return fset, files
}

// declaredCodes returns the Code* string constants declared in protocol
// and rpc: the names code arguments may use.
func declaredCodes(files map[string]*ast.File) map[string]string {
	return declared(files, "Code")
}

// declared returns the string constants named prefix* in protocol and rpc.
func declared(files map[string]*ast.File, prefix string) map[string]string {
	out := map[string]string{}
	for path, f := range files {
		pkg := f.Name.Name
		if (pkg != "protocol" && pkg != "rpc") || !strings.Contains(filepath.ToSlash(path), "internal/"+pkg+"/") {
			continue
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, prefix) || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out[pkg+"."+n.Name] = v
					}
				}
			}
		}
	}
	return out
}

// TestEveryCodeInTable: every Code* constant of protocol and rpc is a row
// of the table, and every row is such a constant.
func TestEveryCodeInTable(t *testing.T) {
	_, files := goFiles(t)
	declared := declaredCodes(files)
	rows := map[string]bool{}
	for _, e := range Codes() {
		rows[e.Code] = true
	}
	values := map[string]bool{}
	for name, v := range declared {
		values[v] = true
		if !rows[v] {
			t.Errorf("%s = %q is not in the code table", name, v)
		}
	}
	for c := range rows {
		if !values[c] {
			t.Errorf("the table's code %q has no constant in protocol or rpc", c)
		}
	}
}

// isCall reports whether e calls a function named name (pkg.name or name).
func isCall(e ast.Expr, name string) bool {
	c, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name == name
	case *ast.SelectorExpr:
		return f.Sel.Name == name
	}
	return false
}

// codeLiteral reports whether e is a non-empty string literal ("" means
// "not a wire error" and is allowed).
func codeLiteral(e ast.Expr) bool {
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Kind == token.STRING && lit.Value != `""` && lit.Value != "``"
}

// codeRef reports whether e names a code constant of the table.
func codeRef(e ast.Expr, pkg string, declared map[string]string) bool {
	switch x := e.(type) {
	case *ast.Ident:
		_, ok := declared[pkg+"."+x.Name]
		return ok
	case *ast.SelectorExpr:
		if p, ok := x.X.(*ast.Ident); ok {
			_, ok := declared[p.Name+"."+x.Sel.Name]
			return ok
		}
	}
	return false
}

// codeLint lists each place in files that spells a wire code as a string
// literal, or passes rpc.Errorf a code that is no constant of the table.
func codeLint(fset *token.FileSet, files map[string]*ast.File, declared map[string]string) []string {
	var bad []string
	report := func(n ast.Node, what string) {
		bad = append(bad, fset.Position(n.Pos()).String()+": "+what)
	}
	for _, f := range files {
		pkg := f.Name.Name
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				rpcErrorf := false
				switch fn := x.Fun.(type) {
				case *ast.SelectorExpr:
					id, ok := fn.X.(*ast.Ident)
					rpcErrorf = ok && id.Name == "rpc" && fn.Sel.Name == "Errorf"
				case *ast.Ident:
					rpcErrorf = pkg == "rpc" && fn.Name == "Errorf"
				}
				if rpcErrorf && len(x.Args) > 0 {
					if codeLiteral(x.Args[0]) {
						report(x, "rpc.Errorf with a string-literal code")
					} else if !codeRef(x.Args[0], pkg, declared) {
						// A variable is allowed only where it forwards a
						// code (the table test's own handler is a test file).
						report(x, "rpc.Errorf with a code that is not a table constant")
					}
				}
			case *ast.BinaryExpr:
				if x.Op != token.EQL && x.Op != token.NEQ {
					break
				}
				for _, pair := range [][2]ast.Expr{{x.X, x.Y}, {x.Y, x.X}} {
					side, other := pair[0], pair[1]
					sel, isSel := side.(*ast.SelectorExpr)
					if (isCall(side, "CodeOf") || (isSel && sel.Sel.Name == "Code")) && codeLiteral(other) {
						report(x, "a code compared with a string literal")
					}
				}
			case *ast.SwitchStmt:
				if x.Tag == nil || !isCall(x.Tag, "CodeOf") {
					break
				}
				for _, s := range x.Body.List {
					for _, e := range s.(*ast.CaseClause).List {
						if codeLiteral(e) {
							report(e, "a switch on a code with a string-literal case")
						}
					}
				}
			case *ast.CompositeLit:
				for _, el := range x.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Code" && codeLiteral(kv.Value) {
						report(kv, "Code: with a string literal")
					}
				}
			}
			return true
		})
	}
	return bad
}

// TestNoLiteralCodes fails on a wire code spelled as a string literal
// outside the table: in rpc.Errorf, compared with CodeOf(...) or .Code, in
// a switch on CodeOf, or in a Code: field.
func TestNoLiteralCodes(t *testing.T) {
	fset, files := goFiles(t)
	for _, b := range codeLint(fset, files, declaredCodes(files)) {
		t.Error(b)
	}
}

// TestCodeLintCatches: the lint finds each form it looks for (so that
// TestNoLiteralCodes can fail).
func TestCodeLintCatches(t *testing.T) {
	src := `package x
func f(err error, code string) {
	_ = rpc.Errorf("object_lost", "x")
	_ = rpc.Errorf(code, "x")
	_ = rpc.CodeOf(err) == "pg_removed"
	_ = "pg_removed" != rpc.CodeOf(err)
	_ = w.Code == "task_failed"
	switch rpc.CodeOf(err) {
	case "object_lost", protocol.CodeObjectNotFound:
	}
	_ = &rpc.Error{Code: "internal"}
	// Allowed:
	_ = rpc.Errorf(protocol.CodeObjectLost, "x")
	_ = rpc.CodeOf(err) == ""
	_ = rpc.CodeOf(err) == protocol.CodePGRemoved
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]string{"protocol.CodeObjectLost": CodeObjectLost,
		"protocol.CodeObjectNotFound": CodeObjectNotFound, "protocol.CodePGRemoved": CodePGRemoved}
	bad := codeLint(fset, map[string]*ast.File{"x.go": f}, declared)
	if len(bad) != 7 {
		t.Fatalf("the lint found %d of 7 bad forms: %q", len(bad), bad)
	}
}

// TestDeathTable: every Death* constant is a row of the actor death table,
// rows are unique, and an ActorDiedError of each cause keeps it through its
// wire form.
func TestDeathTable(t *testing.T) {
	_, files := goFiles(t)
	rows := map[string]bool{}
	sentinels := map[error]bool{}
	for _, e := range DeathCodes() {
		if rows[e.Code] || sentinels[e.Sentinel] {
			t.Errorf("row %+v repeats a code or a sentinel", e)
		}
		rows[e.Code], sentinels[e.Sentinel] = true, true
	}
	for name, v := range declared(files, "Death") {
		if !rows[v] {
			t.Errorf("%s = %q is not in the death table", name, v)
		}
	}
	for _, e := range DeathCodes() {
		w := roundTrip(t, errs.NewActorDiedError("a1", "C", "n", e.Code, "m", nil).ToWire())
		err := w.Err()
		if w.Actor == nil || w.Actor.Code != e.Code || !errors.Is(err, e.Sentinel) || !errors.Is(err, errs.ErrActorDied) {
			t.Errorf("death %q came back as %+v: %v", e.Code, w.Actor, err)
		}
	}
}

// TestTaskErrorCauses: a task error of each cause the table knows keeps it
// through its wire form (msgpack), as errors.Is sees it.
func TestTaskErrorCauses(t *testing.T) {
	for _, e := range Codes() {
		te := errs.NewTaskError("f", "t1", e.Sentinel, fmt.Errorf("boom"), "", false)
		w := roundTrip(t, te.ToWire())
		if w.Code != e.Code || !errors.Is(w.Err(), e.Sentinel) {
			t.Errorf("cause %v came back as code %q: %v", e.Sentinel, w.Code, w.Err())
		}
	}
}

func roundTrip(t *testing.T, w *errs.WireTaskError) *errs.WireTaskError {
	t.Helper()
	b, err := msgpack.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var out errs.WireTaskError
	if err := msgpack.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}
