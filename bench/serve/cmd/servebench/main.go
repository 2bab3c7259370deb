// Command servebench measures rayo Serve against its floor: the same
// no-op handler in a plain net/http server, in the same run, loaded by
// wrk (Debian's package; bench/serve/run.sh installs it).
//
//	go build -o /tmp/servebench ./bench/serve/cmd/servebench && /tmp/servebench -c 1,64,512
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve"
)

type noop struct{}

var noopDep = serve.NewDeployment[noop]("servebench.noop", func() *noop { return &noop{} }, serve.DeploymentConfig{NumCPUs: 0.01})

func (noop) ServeHTTP(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }

func main() {
	conc := flag.String("c", "1,64,512", "concurrencies")
	dur := flag.Duration("d", 5*time.Second, "duration per run")
	replicas := flag.Int("replicas", 1, "replicas")
	flag.Parse()
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
	if _, err := serve.Run(ctx, noopDep.Options(serve.DeploymentConfig{NumReplicas: *replicas, MaxOngoingRequests: 10000}).Bind(), serve.RunOptions{Name: "noop"}); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = http.Serve(ln, noop{}) }()
	for _, c := range strings.Split(*conc, ",") {
		for _, target := range []struct{ name, addr string }{{"floor (net/http)", ln.Addr().String()}, {fmt.Sprintf("rayo serve, %d replica(s)", *replicas), addr}} {
			fmt.Printf("c=%s %-26s %s\n", c, target.name, wrk(target.addr, c, *dur))
		}
	}
}

var reqs = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)

// wrk runs wrk with one thread per connection up to 2 and reports
// requests/s and the latency percentiles.
func wrk(addr, c string, d time.Duration) string {
	threads := "2"
	if c == "1" {
		threads = "1"
	}
	out, err := exec.Command("wrk", "-t", threads, "-c", c, "-d", d.String(), "--latency", "http://"+addr+"/").CombinedOutput()
	if err != nil {
		return "wrk: " + err.Error() + ": " + string(out)
	}
	s := string(out)
	m := reqs.FindStringSubmatch(s)
	p := func(q string) string {
		re := regexp.MustCompile(`\s` + q + `%\s+([\d.]+\w+)`)
		if x := re.FindStringSubmatch(s); x != nil {
			return x[1]
		}
		return "?"
	}
	non2xx := ""
	if x := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`).FindStringSubmatch(s); x != nil {
		non2xx = " non-2xx " + x[1]
	}
	if m == nil {
		return s
	}
	return fmt.Sprintf("%10s req/s  p50 %8s  p99 %8s%s", m[1], p("50"), p("99"), non2xx)
}
