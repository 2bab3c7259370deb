package rayo

import "testing"

func TestFuncPackage(t *testing.T) {
	for _, tc := range []struct {
		fn, pkg string
		allowed bool
	}{
		{"github.com/rayo-dev/rayo/data.init", "github.com/rayo-dev/rayo/data", true},
		{"github.com/rayo-dev/rayo/data.init.0", "github.com/rayo-dev/rayo/data", true},
		{"github.com/rayo-dev/rayo/serve/internal/router.(*Router).add.func1", "github.com/rayo-dev/rayo/serve/internal/router", true},
		{"github.com/rayo-dev/rayo/data.MapBatches[go.shape.struct { example.com/u/x.A int }]", "github.com/rayo-dev/rayo/data", true},
		{"github.com/rayo-dev/rayo/tune.register[...]", "github.com/rayo-dev/rayo/tune", true},
		{"github.com/rayo-dev/rayo.Register[...]", "github.com/rayo-dev/rayo", false},
		{"github.com/rayo-dev/rayo_test.init", "github.com/rayo-dev/rayo_test", false},
		{"github.com/rayo-dev/rayo-extra/data.init", "github.com/rayo-dev/rayo-extra/data", false},
		{"github.com/rayo-dev/rayoish.init", "github.com/rayo-dev/rayoish", false},
		{"example.com/app.init.func1", "example.com/app", false},
		{"gopkg.in/yaml%2ev3.init", "gopkg.in/yaml%2ev3", false},
		{"main.init", "main", false},
		{"main.main.func2[...]", "main", false},
		{"", "", false},
	} {
		pkg := funcPackage(tc.fn)
		if pkg != tc.pkg {
			t.Errorf("funcPackage(%q) = %q, want %q", tc.fn, pkg, tc.pkg)
		}
		if got := reservedAllowed(pkg); got != tc.allowed {
			t.Errorf("reservedAllowed(%q) = %v, want %v", pkg, got, tc.allowed)
		}
	}
}
