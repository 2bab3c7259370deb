package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/rayo-dev/rayo/serve"
)

// multi serves a "model" per ID: the ID and how many loads it took.
type multi struct {
	loads  int
	models *serve.ModelCache[string]
}

var multiDep = serve.NewDeployment[multi]("test.multi", func() (*multi, error) {
	m := &multi{}
	var err error
	m.models, err = serve.Multiplexed(func(ctx context.Context, id string) (string, error) {
		m.loads++
		return "model-" + id, nil
	}, serve.MultiplexConfig[string]{MaxModels: 2})
	return m, err
}, serve.DeploymentConfig{NumCPUs: 0.25, MaxOngoingRequests: 1})

func (m *multi) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	model, err := m.models.Get(r.Context())
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	fmt.Fprintf(w, "%s %d %v", model, m.loads, m.models.Loaded())
}

func (m *multi) Which(ctx context.Context) (string, error) {
	model, err := m.models.Get(ctx)
	return fmt.Sprintf("%s %d", model, m.loads), err
}

func TestMultiplexedModels(t *testing.T) {
	ctx := context.Background()
	addr := startServe(t)
	h, err := serve.Run(ctx, multiDep.Bind(), serve.RunOptions{Name: "multi", RoutePrefix: "/multi"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(id string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/multi", nil)
		req.Header.Set(serve.ModelIDHeader, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for _, c := range []struct{ id, want string }{
		{"a", "model-a 1 [a]"},
		{"a", "model-a 1 [a]"},   // a hit
		{"b", "model-b 2 [b a]"}, // a second model
		{"c", "model-c 3 [c b]"}, // a evicted (MaxModels 2)
		{"a", "model-a 4 [a c]"}, // loaded again
	} {
		if got := get(c.id); got != c.want {
			t.Fatalf("model %s: %q, want %q", c.id, got, c.want)
		}
	}
	if got, err := serve.Result[string](ctx, h.WithModelID("c").Call(ctx, "Which")); err != nil || got != "model-c 4" {
		t.Fatalf("a handle call for model c: %q %v", got, err)
	}
	if got := get(""); got == "" || got[:3] == "mod" {
		t.Fatalf("no model ID should be refused, got %q", got)
	}
}
