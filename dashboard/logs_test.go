package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/internal/gcs/gcstest"
	"github.com/rayo-dev/rayo/internal/node"
	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
	"github.com/rayo-dev/rayo/internal/sched"
)

const (
	logNodeID    = "feed0001"
	workerLog    = "worker-00000001-" + logNodeID + "-4242.log"
	workerOutput = "hello from the worker\nsecond line\n"
)

// startLogCluster starts a real head, a real node daemon (no workers: its
// logs directory is filled by hand) and a dashboard.
func startLogCluster(t *testing.T) (*Server, string) {
	t.Helper()
	g := gcstest.Start(t, testToken)
	logs := t.TempDir()
	n, err := node.Start(node.Config{NodeID: logNodeID, HeadAddr: g.Addr(), Token: testToken,
		Resources: sched.Resources{"CPU": sched.Unit}, LogsDir: logs, BinariesDir: t.TempDir(),
		ObjectStoreMemory: 4 << 20, StoreDir: t.TempDir(), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	// A node the head believes alive that does not answer.
	c, err := rpc.Dial(context.Background(), g.Addr(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Call(context.Background(), protocol.HeadRegisterNode, &protocol.NodeInfo{NodeID: "silent01", Addr: "127.0.0.1:1",
		Total: sched.Resources{"CPU": sched.Unit}}, nil); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		workerLog:                    workerOutput,
		"node-" + logNodeID + ".log": "daemon line\n",
	} {
		if err := os.WriteFile(filepath.Join(logs, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Start(Config{Listen: "127.0.0.1:0", Token: testToken, HeadAddr: g.Addr(), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, logs
}

func logFileURL(s *Server, q url.Values) string {
	return "http://" + s.Addr() + "/api/v0/logs/file?" + q.Encode()
}

func TestLogsListAndRead(t *testing.T) {
	s, logs := startLogCluster(t)
	base := "http://" + s.Addr()

	for _, q := range []string{"", "?node_id=" + logNodeID, "?node_id=feed"} {
		resp, body := get(t, http.DefaultClient, base+"/api/v0/logs"+q, testToken)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list %q: %d %s", q, resp.StatusCode, body)
		}
		var r ListReply
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		if r.Total != 2 {
			t.Fatalf("list %q: %+v, want the worker's and the daemon's log", q, r)
		}
		if q == "" && (len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "silent01")) {
			t.Errorf("list: warnings %q, want one about the silent node", r.Warnings)
		}
		w := r.Result[1]
		if w["filename"] != workerLog || w["node_id"] != logNodeID || w["kind"] != "worker" ||
			w["pid"] != float64(4242) || w["job_id"] != "00000001" || w["size_bytes"] != float64(len(workerOutput)) {
			t.Errorf("list %q: the worker's row is %v", q, w)
		}
		if d := r.Result[0]; d["kind"] != "daemon" || d["filename"] != "node-"+logNodeID+".log" {
			t.Errorf("list %q: the daemon's row is %v", q, d)
		}
	}
	if resp, body := get(t, http.DefaultClient, base+"/api/v0/logs?node_id=nope", testToken); resp.StatusCode != http.StatusNotFound {
		t.Errorf("list an unknown node: %d %s", resp.StatusCode, body)
	}

	read := func(q url.Values) (int, string) {
		t.Helper()
		resp, body := get(t, http.DefaultClient, logFileURL(s, q), testToken)
		return resp.StatusCode, body
	}
	if code, body := read(url.Values{"node_id": {logNodeID}, "filename": {workerLog}}); code != http.StatusOK || body != workerOutput {
		t.Errorf("read: %d %q", code, body)
	}
	if code, body := read(url.Values{"node_id": {logNodeID}, "filename": {workerLog}, "tail": {"1"}}); code != http.StatusOK || body != "second line\n" {
		t.Errorf("tail 1: %d %q", code, body)
	}
	for _, tc := range []struct {
		q    url.Values
		want int
	}{
		{url.Values{"node_id": {logNodeID}}, http.StatusBadRequest},
		{url.Values{"filename": {workerLog}}, http.StatusBadRequest},
		{url.Values{"node_id": {logNodeID}, "filename": {workerLog}, "tail": {"x"}}, http.StatusBadRequest},
		{url.Values{"node_id": {logNodeID}, "filename": {workerLog}, "tail": {"-1"}}, http.StatusBadRequest},
		{url.Values{"node_id": {logNodeID}, "filename": {workerLog}, "follow": {"maybe"}}, http.StatusBadRequest},
		{url.Values{"node_id": {logNodeID}, "filename": {"../token"}}, http.StatusBadRequest},
		{url.Values{"node_id": {logNodeID}, "filename": {"missing.log"}}, http.StatusNotFound},
		{url.Values{"node_id": {"nope"}, "filename": {workerLog}}, http.StatusNotFound},
		{url.Values{"node_id": {"silent01"}, "filename": {workerLog}}, http.StatusServiceUnavailable},
	} {
		if code, body := read(tc.q); code != tc.want {
			t.Errorf("%v: %d %s, want %d", tc.q, code, body, tc.want)
		}
	}

	// A file longer than one node reply comes whole.
	big := strings.Repeat("0123456789abcdef", protocol.MaxLogRead/16*2+3)
	if err := os.WriteFile(filepath.Join(logs, "big.log"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, body := read(url.Values{"node_id": {logNodeID}, "filename": {"big.log"}}); code != http.StatusOK || body != big {
		t.Errorf("big.log: %d, %d bytes of %d", code, len(body), len(big))
	}
	// Its tail is cut to one reply, and says so.
	resp, body := get(t, http.DefaultClient, logFileURL(s, url.Values{"node_id": {logNodeID}, "filename": {"big.log"}, "tail": {"3"}}), testToken)
	if resp.StatusCode != http.StatusOK || len(body) != protocol.MaxLogRead || resp.Header.Get(TruncatedHeader) != "true" {
		t.Errorf("tail of big.log: %d, %d bytes, %s %q", resp.StatusCode, len(body), TruncatedHeader, resp.Header.Get(TruncatedHeader))
	}
}

// startFollow opens a follow of the worker's log and returns a reader of
// its body.
func startFollow(t *testing.T, ctx context.Context, s *Server) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		logFileURL(s, url.Values{"node_id": {logNodeID}, "filename": {workerLog}, "tail": {"1"}, "follow": {"1"}}), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("follow: %d", resp.StatusCode)
	}
	return resp, bufio.NewReader(resp.Body)
}

func readLine(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the follow: %v (got %q)", err, line)
	}
	return line
}

func TestLogsFollow(t *testing.T) {
	s, logs := startLogCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, br := startFollow(t, ctx, s)
	if line := readLine(t, br); line != "second line\n" {
		t.Fatalf("the follow starts with %q", line)
	}
	f, err := os.OpenFile(filepath.Join(logs, workerLog), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Lines appended after the follow began arrive, in order.
	for _, want := range []string{"third line\n", "fourth line\n"} {
		if _, err := f.WriteString(want); err != nil {
			t.Fatal(err)
		}
		if line := readLine(t, br); line != want {
			t.Fatalf("followed %q, want %q", line, want)
		}
	}

	// Stopping the dashboard ends a follow.
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, br)
		done <- err
	}()
	s.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the follow did not end when the dashboard stopped")
	}
}
