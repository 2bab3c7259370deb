package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rayo-dev/rayo/serve"
)

// ingress answers each request with what the model returns through a
// handle: the chain of row 2.
type ingress struct{ model serve.DeploymentHandle }

var ingressDep = serve.NewDeployment[ingress]("servebench.ingress", func(m serve.DeploymentHandle) *ingress { return &ingress{m} },
	serve.DeploymentConfig{NumCPUs: 0.01, MaxOngoingRequests: 10000})

func (in *ingress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, err := serve.Result[string](r.Context(), in.model.Call(r.Context(), "Echo"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(s))
}

// echo is the chain's model: a no-op method.
type echo struct{}

var echoDep = serve.NewDeployment[echo]("servebench.echo", func() *echo { return &echo{} },
	serve.DeploymentConfig{NumCPUs: 0.01, MaxOngoingRequests: 10000})

func (echo) Echo() string { return "ok" }

// rowHop is row 2: ingress → handle → model against the no-op deployment
// answering directly; the hop's cost is the difference of the p50s.
func rowHop(ctx context.Context, serveURL string, f flags) error {
	if _, err := serve.Run(ctx, ingressDep.Bind(echoDep.Bind()), serve.RunOptions{Name: "chain", RoutePrefix: "/chain"}); err != nil {
		return err
	}
	defer serve.Delete(ctx, "chain")
	header(fmt.Sprintf("Row 2: ingress → handle → model vs one deployment answering directly, %v per run", f.dur),
		"concurrency", "chain of two", "one deployment", "hop's p50 (target ≤ 0.3 ms)", "hop's p99")
	for _, c := range f.hopConc {
		direct, err := wrk(serveURL+"/", c, f.dur)
		if err != nil {
			return err
		}
		chain, err := wrk(serveURL+"/chain", c, f.dur)
		if err != nil {
			return err
		}
		row(strconv.Itoa(c), chain.String(), direct.String(), ms(chain.p50-direct.p50), ms(chain.p99-direct.p99))
	}
	return nil
}
