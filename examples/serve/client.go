package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The load generator: a few goroutines, each sending its share of the
// requests one after another on a kept-alive connection.

// call is one request's outcome.
type call struct {
	took   time.Duration
	status int
	body   []byte
	err    error
}

// load POSTs bodies[i] to url from conc goroutines and returns each
// request's outcome, in bodies' order, and the wall time.
func load(ctx context.Context, client *http.Client, url string, bodies [][]byte, conc int) ([]call, time.Duration) {
	out := make([]call, len(bodies))
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for i := range next {
				out[i] = post(ctx, client, url, bodies[i])
			}
		})
	}
	for i := range bodies {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, time.Since(start)
}

func post(ctx context.Context, client *http.Client, url string, body []byte) call {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return call{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return call{err: err, took: time.Since(start)}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return call{took: time.Since(start), status: resp.StatusCode, body: b, err: err}
}

// errRefused is a 503: the proxy found every replica full.
var errRefused = errors.New("refused (503)")

// decode reads a 200's JSON body into v.
func (c call) decode(v any) error {
	if c.err != nil {
		return c.err
	}
	if c.status == http.StatusServiceUnavailable {
		return errRefused
	}
	if c.status != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", c.status, bytes.TrimSpace(c.body))
	}
	return json.Unmarshal(c.body, v)
}

// summary is a load's latency percentiles (nearest rank) and throughput.
type summary struct {
	n, failed, refused int
	p50, p90, p99, max time.Duration
	perSecond          float64
}

func summarise(calls []call, wall time.Duration) summary {
	lat := make([]time.Duration, 0, len(calls))
	s := summary{n: len(calls)}
	for _, c := range calls {
		if c.status == http.StatusServiceUnavailable {
			s.refused++
			continue
		}
		if c.err != nil || c.status != http.StatusOK {
			s.failed++
			continue
		}
		lat = append(lat, c.took)
	}
	slices.Sort(lat)
	rank := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))+0.999999)-1)]
	}
	s.p50, s.p90, s.p99 = rank(0.50), rank(0.90), rank(0.99)
	if len(lat) > 0 {
		s.max = lat[len(lat)-1]
	}
	s.perSecond = float64(len(lat)) / wall.Seconds()
	return s
}

func (s summary) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	refused := ""
	if s.refused > 0 {
		refused = fmt.Sprintf(" (%d refused with 503: every replica was at MaxOngoingRequests; try fewer clients or more -replicas)", s.refused)
	}
	return fmt.Sprintf("%d requests, %d failed%s: %.0f answered/s; latency ms p50 %s p90 %s p99 %s max %s",
		s.n, s.failed, refused, s.perSecond, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max))
}
