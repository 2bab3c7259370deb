package serve_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/serve"
)

// sse streams server-sent events: the first at once, the rest after a
// request to /release (a replica-side gate), so that the test sees the
// first before the handler can have finished.
type sse struct{ release chan struct{} }

var sseDep = serve.NewDeployment[sse]("test.sse", func() *sse { return &sse{release: make(chan struct{})} },
	serve.DeploymentConfig{NumCPUs: 0.25, StreamResponses: true})

func (s *sse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/release" {
		close(s.release)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	fmt.Fprint(w, "data: 1\n\n")
	fl.Flush()
	select {
	case <-s.release:
	case <-r.Context().Done():
		return
	}
	for i := 2; i <= 3; i++ {
		fmt.Fprintf(w, "data: %d\n\n", i)
		fl.Flush()
	}
}

func TestServerSentEvents(t *testing.T) {
	ctx := context.Background()
	addr := startServe(t)
	if _, err := serve.Run(ctx, sseDep.Bind(), serve.RunOptions{Name: "sse", RoutePrefix: "/sse"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/sse/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	if err != nil || line != "data: 1\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	// The handler is blocked now: the first event came through alone.
	rel, err := http.Get("http://" + addr + "/sse/release")
	if err != nil {
		t.Fatal(err)
	}
	rel.Body.Close()
	var rest strings.Builder
	if _, err := rd.WriteTo(&rest); err != nil {
		t.Fatal(err)
	}
	if rest.String() != "\ndata: 2\n\ndata: 3\n\n" {
		t.Fatalf("the rest: %q", rest.String())
	}
}
