package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/serve"
)

func init() {
	serve.RegisterBuilder("test:calc", func(args map[string]any) (*serve.Application, error) {
		f, err := strconv.ParseFloat(fmt.Sprint(args["factor"]), 64)
		if err != nil {
			return nil, errors.New("args.factor: want a number")
		}
		return frontDep.Bind(scalerDep.Bind(f)), nil
	})
}

const calcConfig = `
http_options:
  port: 0
applications:
  - name: calc2
    route_prefix: /c2
    import_path: test:calc
    args: {factor: 4}
    deployments:
      - name: test.scaler
        num_replicas: 2
        ray_actor_options: {num_cpus: 0.1}
`

func TestDeployConfigFile(t *testing.T) {
	ctx := context.Background()
	t.Cleanup(func() {
		if err := serve.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	addr, err := serve.Deploy(ctx, []byte(calcConfig))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/c2?x=2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "8" {
		t.Fatalf("through the deployed config: %q", b)
	}
	st, err := serve.GetStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Applications[0].Deployments {
		if d.Name == "test.scaler" && d.Running != 2 {
			t.Fatalf("the file's num_replicas 2 was not applied: %+v", d)
		}
	}
}

func TestDeployBadConfigFile(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"applications:\n  - name: a\n    import_path: test:calc\n    deployments:\n      - name: test.scaler\n        max_ongoing_request: 3\n", "max_ongoing_request"},
		{"applications:\n  - name: a\n    import_path: nope:build\n", "no builder"},
		{"applications:\n  - name: a\n    import_path: test:calc\n    args: {factor: 1}\n    deployments:\n      - name: test.nothere\n", "no deployment"},
	} {
		_, err := serve.Deploy(context.Background(), []byte(c.file))
		if !errors.Is(err, serve.ErrInvalidConfig) && !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%q: got %v", c.want, err)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%q: got %v", c.want, err)
		}
	}
	if _, err := serve.GetStatus(context.Background()); err == nil {
		if st, _ := serve.GetStatus(context.Background()); len(st.Applications) != 0 {
			t.Fatalf("a bad file deployed something: %+v", st)
		}
	}
}
