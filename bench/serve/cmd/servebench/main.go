// Command servebench measures rayo Serve against a floor or a peer
// measured in the same run (issue 18's rows), loaded by wrk (Debian's
// package; bench/serve/run.sh installs it and runs every row):
//
//  1. a no-op deployment vs the same handler in a plain net/http server;
//  2. an ingress calling a model through a handle vs one deployment
//     answering directly: the hop's added latency;
//  3. a model with a fixed cost per call plus a cost per item, with and
//     without serve.Batch;
//  4. autoscaling on a step from 1 to 64 clients and back, against the
//     configured delays;
//  5. the proxy's and a replica's RSS after warm-up and after 1,000,000
//     requests.
//
// Each row prints a markdown table.
//
//	go build -o /tmp/servebench ./bench/serve/cmd/servebench && /tmp/servebench -rows 1,2 -d 3s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve"
)

type noop struct{}

var noopDep = serve.NewDeployment[noop]("servebench.noop", func() *noop { return &noop{} }, serve.DeploymentConfig{NumCPUs: 0.01})

func (noop) ServeHTTP(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }

// PID tells row 5 which process the replica is.
func (noop) PID() int { return os.Getpid() }

// flags are the rows' settings.
type flags struct {
	conc     []int         // row 1's concurrencies
	hopConc  []int         // row 2's
	dur      time.Duration // each wrk run of rows 1-3
	replicas int           // row 1's replicas
	requests int           // row 5's
	up, down time.Duration // row 4's configured delays
	maxRepl  int           // row 4's MaxReplicas
}

func main() {
	rows := flag.String("rows", "1,2,3,4,5", "rows to run")
	conc := flag.String("c", "1,64,512", "row 1's concurrencies")
	hopConc := flag.String("hop-c", "1,64", "row 2's concurrencies")
	var f flags
	flag.DurationVar(&f.dur, "d", 5*time.Second, "duration of each wrk run (rows 1-3)")
	flag.IntVar(&f.replicas, "replicas", 1, "row 1's replicas")
	flag.IntVar(&f.requests, "n", 1_000_000, "row 5's requests after warm-up")
	flag.DurationVar(&f.up, "upscale-delay", 2*time.Second, "row 4's UpscaleDelay")
	flag.DurationVar(&f.down, "downscale-delay", 10*time.Second, "row 4's DownscaleDelay")
	flag.IntVar(&f.maxRepl, "max-replicas", 4, "row 4's MaxReplicas")
	flag.Parse()
	f.conc, f.hopConc = ints(*conc), ints(*hopConc)

	ctx := context.Background()
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithLogToDriver(false)); err != nil {
		log.Fatal(err)
	}
	defer rayo.Shutdown()
	addr, err := serve.Start(ctx, serve.HTTPOptions{Port: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer serve.Shutdown(context.Background())
	// The no-op deployment is row 1's subject and rows 2 and 5's peer.
	if _, err := serve.Run(ctx, noopDep.Options(serve.DeploymentConfig{NumReplicas: f.replicas, MaxOngoingRequests: 10000}).Bind(), serve.RunOptions{Name: "noop"}); err != nil {
		log.Fatal(err)
	}
	run := map[string]func(context.Context, string, flags) error{"1": rowNoop, "2": rowHop, "3": rowBatch, "4": rowAutoscale, "5": rowMemory}
	for _, r := range strings.Split(*rows, ",") {
		fn := run[strings.TrimSpace(r)]
		if fn == nil {
			log.Fatalf("no row %q: rows are 1 to 5", r)
		}
		if err := fn(ctx, "http://"+addr, f); err != nil {
			log.Fatalf("row %s: %v", r, err)
		}
	}
}

// rowNoop is row 1: the no-op deployment against the same handler in a
// plain net/http server in this process.
func rowNoop(_ context.Context, serveURL string, f flags) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: noop{}}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	header(fmt.Sprintf("Row 1: a no-op deployment (%d replica(s)) vs net/http, %v per run", f.replicas, f.dur),
		"concurrency", "rayo Serve", "net/http floor", "Serve / floor req/s", "p50 added")
	for _, c := range f.conc {
		floor, err := wrk("http://"+ln.Addr().String()+"/", c, f.dur)
		if err != nil {
			return err
		}
		s, err := wrk(serveURL+"/", c, f.dur)
		if err != nil {
			return err
		}
		row(strconv.Itoa(c), s.String(), floor.String(), fmt.Sprintf("%.2f", s.rps/floor.rps), ms(s.p50-floor.p50))
	}
	return nil
}

// header starts a markdown table.
func header(title string, cols ...string) {
	fmt.Printf("\n### %s\n\n| %s |\n|%s\n", title, strings.Join(cols, " | "), strings.Repeat(" --- |", len(cols)))
}

// row prints a table row.
func row(cells ...string) { fmt.Printf("| %s |\n", strings.Join(cells, " | ")) }

// ints parses a comma-separated list of counts.
func ints(s string) []int {
	var out []int
	for _, x := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil || n < 1 {
			log.Fatalf("want counts like 1,64: %q", s)
		}
		out = append(out, n)
	}
	return out
}
