package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rayo-dev/rayo/serve"
)

// Row 3's model: each call to the accelerator costs a fixed launch
// (a sleep standing for it, one launch at a time as on one device) plus
// CPU work per item (a busy loop).
const (
	launchCost = 2 * time.Millisecond
	itemCost   = 20 * time.Microsecond
	batchConc  = 64
	batchMax   = 32
)

var batchCfg = serve.BatchConfig{MaxBatchSize: batchMax, BatchWaitTimeout: time.Millisecond}

type model struct {
	device  sync.Mutex // one launch at a time
	predict *serve.Batcher[int, int]
	// calls and items count the device's launches and the items they
	// carried: their ratio is the mean batch size.
	calls, items atomic.Int64
}

var modelDep = serve.NewDeployment[model]("servebench.model", newModel,
	serve.DeploymentConfig{NumCPUs: 0.01, MaxOngoingRequests: 10000})

// newModel builds the model with or without a batcher: the same
// deployment either way.
func newModel(batched bool) (*model, error) {
	m := &model{}
	if !batched {
		return m, nil
	}
	var err error
	m.predict, err = serve.Batch(func(_ context.Context, xs []int) ([]int, error) {
		m.run(len(xs))
		return xs, nil
	}, batchCfg)
	return m, err
}

// run is one launch on the device with n items.
func (m *model) run(n int) {
	m.device.Lock()
	defer m.device.Unlock()
	time.Sleep(launchCost)
	for start := time.Now(); time.Since(start) < time.Duration(n)*itemCost; {
	}
	m.calls.Add(1)
	m.items.Add(int64(n))
}

func (m *model) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.predict == nil {
		m.run(1)
	} else if _, err := m.predict.Call(r.Context(), 1); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

// MeanBatch is the mean number of items per launch so far.
func (m *model) MeanBatch() float64 {
	return float64(m.items.Load()) / float64(max(m.calls.Load(), 1))
}

// rowBatch is row 3: the model batched against unbatched, at the same
// concurrency, beside each one's ceiling on this model.
func rowBatch(ctx context.Context, serveURL string, f flags) error {
	for _, name := range []string{"batched", "unbatched"} {
		if _, err := serve.Run(ctx, modelDep.Bind(name == "batched"), serve.RunOptions{Name: name, RoutePrefix: "/" + name}); err != nil {
			return err
		}
		defer serve.Delete(ctx, name)
	}
	header(fmt.Sprintf("Row 3: a model costing a %v launch (a sleep, one at a time) + %v CPU per item (a busy loop), c=%d, %v per run",
		launchCost, itemCost, batchConc, f.dur),
		"model", "rayo Serve", "mean items per launch", "the model's ceiling", "batched / unbatched")
	var unbatched float64
	for _, name := range []string{"unbatched", "batched"} {
		l, err := wrk(serveURL+"/"+name, batchConc, f.dur)
		if err != nil {
			return err
		}
		mean, err := serve.Result[float64](ctx, serve.GetDeploymentHandle(name, modelDep.Name()).Call(ctx, "MeanBatch"))
		if err != nil {
			return err
		}
		label, size, ratio := "unbatched", 1, "1"
		if name == "batched" {
			label, size = fmt.Sprintf("serve.Batch (max %d, wait %v)", batchMax, batchCfg.BatchWaitTimeout), batchMax
			ratio = fmt.Sprintf("**%.1f×** (target ≥ 3×)", l.rps/unbatched)
		} else {
			unbatched = l.rps
		}
		ceiling := float64(size) / (launchCost + time.Duration(size)*itemCost).Seconds()
		row(label, l.String(), fmt.Sprintf("%.1f", mean), thousands(ceiling)+" req/s", ratio)
	}
	return nil
}
