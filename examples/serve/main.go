// Command serve is rayo Serve's example: a real model behind HTTP
// endpoints, as Ray Serve's quick start and model composition guide. Run
// it with
//
//	go run ./examples/serve
//	go run ./examples/serve -serve-forever -port 8000
//
// It starts an embedded single-node cluster (set RAYO_ADDRESS=auto to use
// a running one), starts Serve, and deploys two applications:
//
//   - /classify: the batch-inference example's digit classifier (package
//     mlp, a small gonum MLP on 8x8 images), its forward pass batched by
//     serve.Batch, its replicas autoscaled (1 to -max-replicas). POST {"pixels": [64 floats]} or {"images": [[...],
//     ...]}.
//   - /pipeline: preprocess (8-bit pixels onto the model's input range) →
//     the classifier, through a handle → postprocess (the digit's name
//     and whether the model is confident). POST {"pixels": [64 ints,
//     0-255]}.
//
// Then it sends -n requests to each with -c concurrent clients of its own,
// checks every answer against the model run in this process on the same
// images, prints latency percentiles, throughput, the batch sizes the
// model saw and Serve's status, and shuts Serve down. With -serve-forever
// it prints the URLs and serves until interrupted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/examples/batchinference/mlp"
	"github.com/rayo-dev/rayo/serve"
)

// config is the command line.
type config struct {
	n, conc, port int
	batch         int
	wait          time.Duration
	replicas      int
	maxReplicas   int
	seed          uint64
	out           string
	forever       bool
}

func main() {
	ctx := context.Background()
	// A worker process serves its actors and never returns from Init, so
	// it never parses the driver's flags.
	if rayo.IsWorker() {
		if err := rayo.Init(ctx); err != nil {
			log.Fatal(err)
		}
	}
	var c config
	flag.IntVar(&c.n, "n", 400, "requests to send to each application")
	flag.IntVar(&c.conc, "c", 32, "concurrent clients")
	flag.IntVar(&c.port, "port", -1, "the HTTP proxy's port (-1: a free one)")
	flag.IntVar(&c.batch, "max-batch", 32, "the classifier's MaxBatchSize")
	flag.DurationVar(&c.wait, "batch-wait", 5*time.Millisecond, "the classifier's BatchWaitTimeout")
	flag.IntVar(&c.replicas, "replicas", 0, "replicas of each classifier deployment (0: autoscaled from 1 to -max-replicas)")
	flag.IntVar(&c.maxReplicas, "max-replicas", 2, "the classifiers' autoscaling bound")
	flag.Uint64Var(&c.seed, "seed", 11, "seed of the test images (mlp.Digits)")
	flag.StringVar(&c.out, "out", "", "write every prediction to this file (JSON lines)")
	flag.BoolVar(&c.forever, "serve-forever", false, "deploy, print the URLs and serve until interrupted")
	flag.Parse()
	if c.n < 1 || c.conc < 1 || c.batch < 1 || c.wait <= 0 || c.replicas < 0 || c.maxReplicas < 1 || c.port < -1 || c.port > 65535 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "serve: -n, -c, -max-batch, -batch-wait and -max-replicas must be positive, -replicas not negative, -port in -1..65535, and there are no arguments")
		flag.Usage()
		os.Exit(2)
	}
	if err := rayo.Init(ctx); err != nil {
		log.Fatal(err)
	}
	err := run(ctx, c)
	rayo.Shutdown()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, c config) (err error) {
	start := time.Now()
	addr, err := serve.Start(ctx, serve.HTTPOptions{Port: c.port})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if e := serve.Shutdown(sctx); e != nil && err == nil {
			err = fmt.Errorf("serve.Shutdown: %w", e)
		}
	}()
	args := BatchArgs{MaxBatchSize: c.batch, Wait: c.wait}
	model := classifierDep.Options(classifierScaling(c))
	if err := deploy(ctx, model.Bind(args), serve.RunOptions{Name: "classify", RoutePrefix: "/classify"}); err != nil {
		return err
	}
	pipeline := preprocessDep.Bind(model.Bind(args), postprocessDep.Bind())
	if err := deploy(ctx, pipeline, serve.RunOptions{Name: "pipeline", RoutePrefix: "/pipeline"}); err != nil {
		return err
	}
	base := "http://" + addr
	fmt.Printf("Serve is up in %v: %s/classify and %s/pipeline\n", time.Since(start).Round(time.Millisecond), base, base)

	if c.forever {
		return serveForever(ctx, base)
	}
	m, err := loadModel()
	if err != nil {
		return err
	}
	x, labels := mlp.Digits(c.n, c.seed)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: c.conc}}

	var rec []record
	// /classify: the images as floats, one per request.
	bodies := make([][]byte, c.n)
	for i := range bodies {
		bodies[i], _ = json.Marshal(ClassifyRequest{Pixels: x[i*pixels : (i+1)*pixels]})
	}
	calls, wall := load(ctx, client, base+"/classify", bodies, c.conc)
	fmt.Printf("/classify: %v\n", summarise(calls, wall))
	want, err := predictInProcess(m, x, c.n)
	if err != nil {
		return err
	}
	var bad []string
	agree, correct, answered := 0, 0, 0
	for i, call := range calls {
		var p Prediction
		if err := call.decode(&p); errors.Is(err, errRefused) {
			continue
		} else if err != nil {
			bad = append(bad, fmt.Sprintf("/classify image %d: %v", i, err))
			continue
		}
		answered++
		rec = append(rec, record{App: "classify", Image: i, Class: p.Class, Confidence: p.Confidence, BatchSize: p.BatchSize})
		if p.Class == want[i].Class && close32(p.Confidence, want[i].Confidence) {
			agree++
		}
		if p.Class == labels[i] {
			correct++
		}
	}
	fmt.Printf("  agree with the model run in this process: %d/%d; accuracy %.3f\n", agree, answered, float64(correct)/float64(max(answered, 1)))

	// /pipeline: the same images as 8-bit pixels.
	px := make([]float32, len(x))
	for i := range bodies {
		q := PipelineRequest{Pixels: make([]int, pixels)}
		for j, v := range x[i*pixels : (i+1)*pixels] {
			q.Pixels[j] = int(quantize(v))
			px[i*pixels+j] = normalise(quantize(v))
		}
		bodies[i], _ = json.Marshal(q)
	}
	calls, wall = load(ctx, client, base+"/pipeline", bodies, c.conc)
	fmt.Printf("/pipeline: %v\n", summarise(calls, wall))
	want, err = predictInProcess(m, px, c.n)
	if err != nil {
		return err
	}
	confident := 0
	agree, answered = 0, 0
	for i, call := range calls {
		var l Labeled
		if err := call.decode(&l); errors.Is(err, errRefused) {
			continue
		} else if err != nil {
			bad = append(bad, fmt.Sprintf("/pipeline image %d: %v", i, err))
			continue
		}
		answered++
		rec = append(rec, record{App: "pipeline", Image: i, Class: l.Digit, Confidence: l.Confidence, BatchSize: l.BatchSize})
		if l.Digit == want[i].Class && close32(l.Confidence, want[i].Confidence) && l.Label == digitNames[l.Digit] {
			agree++
		}
		if l.Confident {
			confident++
		}
	}
	fmt.Printf("  agree with the model run in this process: %d/%d; %d confident (min_confidence 0.9)\n", agree, answered, confident)

	// One request with several images: they share the batcher.
	several, _ := json.Marshal(ClassifyRequest{Images: [][]float32{x[0:pixels], x[pixels : 2*pixels], x[2*pixels : 3*pixels]}})
	var multi struct{ Predictions []Prediction }
	if err := post(ctx, client, base+"/classify", several).decode(&multi); err != nil {
		bad = append(bad, fmt.Sprintf("/classify, three images: %v", err))
	} else {
		fmt.Printf("/classify with three images: %s\n", compact(multi.Predictions))
	}

	st, err := serve.GetStatus(ctx)
	if err != nil {
		return err
	}
	if err := printBatchStats(ctx, st); err != nil {
		return err
	}
	printStatus(st)
	if c.out != "" {
		if err := writeRecords(c.out, rec); err != nil {
			return err
		}
		fmt.Printf("predictions: %s\n", c.out)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d requests failed, the first: %s", len(bad), bad[0])
	}
	fmt.Printf("done in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// classifierScaling is the classifiers' replicas: -replicas of them, or
// autoscaled (Ray's autoscaling_config) between one and -max-replicas,
// aiming at 8 requests in flight on each, quick to scale up (1 s) and
// slow to scale down (30 s) as a service under bursts wants.
func classifierScaling(c config) serve.DeploymentConfig {
	if c.replicas > 0 {
		return serve.DeploymentConfig{NumReplicas: c.replicas}
	}
	return serve.DeploymentConfig{Autoscaling: &serve.AutoscalingConfig{MinReplicas: 1, MaxReplicas: c.maxReplicas,
		TargetOngoingRequests: 8, UpscaleDelay: new(time.Second), DownscaleDelay: new(30 * time.Second)}}
}

// deploy runs app, and prints Serve's status if its replicas do not
// start within a minute (too few CPUs for them, say).
func deploy(ctx context.Context, app *serve.Application, o serve.RunOptions) error {
	o.Wait = time.Minute
	_, err := serve.Run(ctx, app, o)
	if errors.Is(err, serve.ErrUnavailable) {
		if st, err := serve.GetStatus(ctx); err == nil {
			printStatus(st)
		}
	}
	return err
}

// serveForever serves until SIGINT or SIGTERM.
func serveForever(ctx context.Context, base string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	x, _ := mlp.Digits(1, 1)
	body, _ := json.Marshal(ClassifyRequest{Pixels: x})
	fmt.Printf("serving at %s until interrupted; try\n  curl -s %s/classify -d '%s'\n", base, base, body)
	<-ctx.Done()
	fmt.Println("interrupted: shutting Serve down")
	return nil
}

// predictInProcess is the model's own answer for each of x's n images,
// one forward pass per image as a client without Serve would run it.
func predictInProcess(m *mlp.Model, x []float32, n int) ([]Prediction, error) {
	out := make([]Prediction, n)
	for i := range n {
		p, err := m.Predict(x[i*pixels:(i+1)*pixels], 1)
		if err != nil {
			return nil, err
		}
		k := m.Argmax(p)[0]
		out[i] = Prediction{Class: k, Confidence: p[k], BatchSize: 1}
	}
	return out, nil
}

// close32 compares confidences: a batched matrix product may sum in
// another order than a single row's.
func close32(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-5 }

// printBatchStats asks the classifiers of both applications for their
// batch sizes. A handle call reaches one replica, so with several it
// asks a few times and keeps each replica's latest answer.
func printBatchStats(ctx context.Context, st serve.Status) error {
	for _, app := range []string{"classify", "pipeline"} {
		h := serve.GetDeploymentHandle(app, classifierDep.Name())
		replicas := 1
		for _, a := range st.Applications {
			for _, d := range a.Deployments {
				if a.Name == app && d.Name == classifierDep.Name() {
					replicas = max(d.Running, 1)
				}
			}
		}
		seen := map[string]BatchStats{}
		for range 4 * replicas {
			s, err := serve.Result[BatchStats](ctx, h.Call(ctx, "Stats"))
			if err != nil {
				return fmt.Errorf("%s: Stats: %w", app, err)
			}
			seen[s.Replica] = s
			if len(seen) == replicas {
				break
			}
		}
		var total BatchStats
		for _, s := range seen {
			total.Batches += s.Batches
			total.Images += s.Images
			total.Sizes = addInts(total.Sizes, s.Sizes)
		}
		var hist []string
		for n, k := range total.Sizes {
			if k > 0 {
				hist = append(hist, fmt.Sprintf("%d×%d", k, n))
			}
		}
		fmt.Printf("%s's model: %d images in %d forward passes (replicas asked: %d): mean batch size %.1f; batches×size: %s\n",
			app, total.Images, total.Batches, len(seen), float64(total.Images)/float64(max(total.Batches, 1)), strings.Join(hist, " "))
	}
	return nil
}

func addInts(a, b []int) []int {
	if len(a) < len(b) {
		a = append(a, make([]int, len(b)-len(a))...)
	}
	for i, v := range b {
		a[i] += v
	}
	return a
}

func printStatus(st serve.Status) {
	fmt.Println("serve.GetStatus:")
	for _, a := range st.Applications {
		fmt.Printf("  application %s at %s: %s\n", a.Name, a.RoutePrefix, a.Status)
		for _, d := range a.Deployments {
			fmt.Printf("    %-28s %-9s replicas %d/%d  version %s\n", d.Name, d.Status, d.Running, d.Wanted, d.Version)
			if d.Autoscaling != "" {
				fmt.Printf("      autoscaling: %s\n", d.Autoscaling)
			}
			for _, r := range d.Replicas {
				if r.State != "RUNNING" {
					fmt.Printf("      replica %s: %s\n", r.ID, r.State)
				}
			}
		}
	}
}

// record is a line of -out.
type record struct {
	App        string  `json:"app"`
	Image      int     `json:"image"`
	Class      int     `json:"class"`
	Confidence float32 `json:"confidence"`
	BatchSize  int     `json:"batch_size"`
}

func writeRecords(path string, rec []record) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range rec {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
