// Command serverun is a program for `rayo serve run`: it registers a
// deployment and a builder, then hands over to serve.Main.
package main

import (
	"fmt"
	"net/http"

	"github.com/rayo-dev/rayo/serve"
)

type hello struct{ greeting string }

func (h *hello) ServeHTTP(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, h.greeting) }

var helloDep = serve.NewDeployment[hello]("itest.serverun.hello", func(g string) *hello { return &hello{g} },
	serve.DeploymentConfig{NumCPUs: 0.1})

func init() {
	serve.RegisterBuilder("serverun:hello", func(args map[string]any) (*serve.Application, error) {
		g, _ := args["greeting"].(string)
		if g == "" {
			g = "hello"
		}
		return helloDep.Bind(g), nil
	})
}

func main() { serve.Main() }
