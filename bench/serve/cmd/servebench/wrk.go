package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// load is what one wrk run measured.
type load struct {
	requests int
	rps      float64
	p50, p99 time.Duration
	// failed counts non-2xx answers and socket errors: a row with
	// failures measured something other than what it says.
	failed int
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkP50      = regexp.MustCompile(`\s50%\s+([\d.]+\w+)`)
	wrkP99      = regexp.MustCompile(`\s99%\s+([\d.]+\w+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// wrk loads url with c connections for d, with one thread up to two
// connections (wrk and the servers share the machine's 2 cores).
func wrk(url string, c int, d time.Duration) (load, error) {
	threads := min(c, 2)
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(c), "-d", d.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return load{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(s string) (load, error) {
	var l load
	m := wrkRPS.FindStringSubmatch(s)
	n := wrkRequests.FindStringSubmatch(s)
	p50 := wrkP50.FindStringSubmatch(s)
	p99 := wrkP99.FindStringSubmatch(s)
	if m == nil || n == nil || p50 == nil || p99 == nil {
		return l, fmt.Errorf("wrk: unexpected output: %s", s)
	}
	l.rps, _ = strconv.ParseFloat(m[1], 64)
	l.requests, _ = strconv.Atoi(n[1])
	var err error
	if l.p50, err = time.ParseDuration(p50[1]); err != nil {
		return l, err
	}
	if l.p99, err = time.ParseDuration(p99[1]); err != nil {
		return l, err
	}
	if x := wrkNon2xx.FindStringSubmatch(s); x != nil {
		l.failed, _ = strconv.Atoi(x[1])
	}
	if x := wrkSocket.FindStringSubmatch(s); x != nil {
		for _, v := range x[1:] {
			k, _ := strconv.Atoi(v)
			l.failed += k
		}
	}
	return l, nil
}

// String is a table cell: throughput, median and tail, and failures if
// any.
func (l load) String() string {
	s := fmt.Sprintf("%s req/s, p50 %s, p99 %s", thousands(l.rps), ms(l.p50), ms(l.p99))
	if l.failed > 0 {
		s += fmt.Sprintf(", **%d failed**", l.failed)
	}
	return s
}

// ms renders a latency as docs/performance.md does: µs below a
// millisecond, ms above.
func ms(d time.Duration) string {
	if d.Abs() < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// thousands renders a rate rounded, with comma separators.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
