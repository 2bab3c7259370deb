package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rayo-dev/rayo"
	"github.com/rayo-dev/rayo/serve"
)

// opsResult mirrors the controller's answer record (requests.go).
type opsResult struct {
	ID      string `json:"id"`
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Invalid bool   `json:"invalid"`
}

var opsSeq int

// claimPrefix mirrors requests.go's: a request's claim.
const claimPrefix = serve.ResultPrefix + "claim/"

// gateNS and gateKey hold the gate of the builder test:gated: it blocks
// until the key is there, so that a request takes as long as a test needs.
const gateNS, gateKey = "serve-test", "gate"

func init() {
	serve.RegisterBuilder("test:gated", func(map[string]any) (*serve.Application, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for {
			if _, err := rayo.KVGet(ctx, gateKey, rayo.KVNamespace(gateNS)); err == nil {
				return nil, errors.New("the gate opened")
			}
			select {
			case <-ctx.Done():
				return nil, errors.New("the gate stayed shut")
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

// askController plays the dashboard: it writes a request record and
// waits for the controller's answer.
func askController(t *testing.T, op, file string) opsResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := rayo.KVNamespace(serve.KVNamespace)
	opsSeq++
	id := fmt.Sprintf("abc%d", opsSeq)
	b, _ := json.Marshal(map[string]string{"id": id, "op": op, "config": file})
	if added, err := rayo.KVPut(ctx, serve.RequestKey, b, ns, rayo.KVNoOverwrite()); err != nil || !added {
		t.Fatalf("writing the request: added %v, %v", added, err)
	}
	waitKV(t, serve.ResultPrefix+id, true)
	return readAnswer(t, id)
}

func opsConfig(apps ...string) string {
	s := "http_options: {port: 0}\napplications:\n"
	for _, a := range apps {
		s += fmt.Sprintf("  - name: %s\n    route_prefix: /%s\n    import_path: test:calc\n    args: {factor: 2}\n"+
			"    deployments:\n      - {name: test.scaler, ray_actor_options: {num_cpus: 0.1}}\n      - {name: test.front, ray_actor_options: {num_cpus: 0.1}}\n", a, a)
	}
	return s
}

func appNames(t *testing.T) []string {
	t.Helper()
	st, err := serve.GetStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range st.Applications {
		names = append(names, a.Name)
	}
	return names
}

func keptConfig(t *testing.T) string {
	t.Helper()
	b, err := rayo.KVGet(context.Background(), serve.ConfigKey, rayo.KVNamespace(serve.KVNamespace))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A config applied through the controller (the dashboard's path): it is
// the whole desired set, a bad one changes nothing, proxy options
// cannot change, and a shutdown request removes Serve and its state.
func TestConfigThroughController(t *testing.T) {
	ctx := context.Background()
	addr, err := serve.Start(ctx, serve.HTTPOptions{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	shut := false
	t.Cleanup(func() {
		if !shut {
			_ = serve.Shutdown(context.Background())
		}
	})
	if res := askController(t, "deploy", opsConfig("opsa", "opsb")); !res.OK {
		t.Fatalf("deploy: %+v", res)
	}
	if got := strings.Join(appNames(t), ","); got != "opsa,opsb" {
		t.Fatalf("applications %s", got)
	}
	waitAnswer(t, "http://"+addr+"/opsb?x=3", "6")

	// opsa is not in the next config: deleted.
	if res := askController(t, "deploy", opsConfig("opsb")); !res.OK {
		t.Fatalf("deploy: %+v", res)
	}
	if got := strings.Join(appNames(t), ","); got != "opsb" {
		t.Fatalf("applications %s, want opsb alone", got)
	}
	if keptConfig(t) != opsConfig("opsb") {
		t.Fatalf("kept config %q", keptConfig(t))
	}

	for _, c := range []struct{ file, want string }{
		{strings.Replace(opsConfig("opsc"), "import_path", "import_pth", 1), "import_pth"},
		{strings.Replace(opsConfig("opsc"), "{port: 0}", "{port: 8123}", 1), "http_options"},
		{"proxy_location: HeadOnly\n" + opsConfig("opsc"), "proxy_location"},
		{opsConfig("opsc") + "      - {name: test.nothere}\n", "deployments[2].name"},
	} {
		res := askController(t, "deploy", c.file)
		if res.OK || !res.Invalid || !strings.Contains(res.Error, c.want) {
			t.Fatalf("%s: %+v", c.want, res)
		}
		if got := strings.Join(appNames(t), ","); got != "opsb" || keptConfig(t) != opsConfig("opsb") {
			t.Fatalf("%s: a bad config changed Serve: applications %s, config %q", c.want, got, keptConfig(t))
		}
	}

	if res := askController(t, "shutdown", ""); !res.OK {
		t.Fatalf("shutdown: %+v", res)
	}
	shut = true
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := serve.GetStatus(ctx)
		if errors.Is(err, serve.ErrNotStarted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller is still there after a shutdown request: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling the controller's name
	}
	keys, err := rayo.KVList(ctx, "serve/", rayo.KVNamespace(serve.KVNamespace))
	if err != nil || len(keys) != 0 {
		t.Fatalf("Serve's state left after the shutdown: %v %v", keys, err)
	}
}

// waitAnswer polls url until it answers want.
func waitAnswer(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if last = string(b); last == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // polling the route
	}
	t.Fatalf("%s answered %q, want %q", url, last, want)
}

// The driver's Deploy is the same declarative apply: it keeps the
// config, deletes what the file does not name, and refuses new proxy
// options.
func TestDeployReplacesAndKeepsConfig(t *testing.T) {
	ctx := context.Background()
	t.Cleanup(func() {
		if err := serve.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if _, err := serve.Deploy(ctx, []byte(opsConfig("depa"))); err != nil {
		t.Fatal(err)
	}
	if _, err := serve.Deploy(ctx, []byte(opsConfig("depb"))); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(appNames(t), ","); got != "depb" || keptConfig(t) != opsConfig("depb") {
		t.Fatalf("applications %s, config %q", got, keptConfig(t))
	}
	_, err := serve.Deploy(ctx, []byte(strings.Replace(opsConfig("depc"), "{port: 0}", "{port: 8124}", 1)))
	if !errors.Is(err, serve.ErrInvalidConfig) || !strings.Contains(err.Error(), "http_options") {
		t.Fatalf("new http_options: %v", err)
	}
	if got := strings.Join(appNames(t), ","); got != "depb" {
		t.Fatalf("a refused config changed Serve: %s", got)
	}
}

// waitKV polls until key's presence is want.
func waitKV(t *testing.T, key string, want bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := rayo.KVGet(context.Background(), key, rayo.KVNamespace(serve.KVNamespace))
		if err != nil && !errors.Is(err, rayo.ErrKVNotFound) {
			t.Fatal(err)
		}
		if (err == nil) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still present %v", key, !want)
		}
		time.Sleep(20 * time.Millisecond) // polling the controller's keys
	}
}

// The claim that decides who has a dashboard request (requests.go): the
// controller skips one the dashboard claimed first, handles again one an
// earlier controller claimed, and, while it handles one, the dashboard
// cannot claim it; it sweeps old answers and other requests' claims,
// and drops its claim once it answered.
func TestRequestClaims(t *testing.T) {
	ctx := context.Background()
	ns := rayo.KVNamespace(serve.KVNamespace)
	if _, err := serve.Start(ctx, serve.HTTPOptions{Port: -1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = rayo.KVDelete(ctx, gateKey, rayo.KVNamespace(gateNS))
		if err := serve.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	put := func(key, value string) {
		t.Helper()
		if _, err := rayo.KVPut(ctx, key, []byte(value), ns); err != nil {
			t.Fatal(err)
		}
	}
	request := func(id, config string) {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"id": id, "op": "deploy", "config": config})
		put(serve.RequestKey, string(b))
	}

	// Withdrawn: claimed by the dashboard before the controller saw it.
	put(claimPrefix+"d0d0", "dashboard")
	request("d0d0", opsConfig("withdrawn"))
	waitKV(t, serve.RequestKey, false)
	waitKV(t, claimPrefix+"d0d0", false)
	if _, err := rayo.KVGet(ctx, serve.ResultPrefix+"d0d0", ns); !errors.Is(err, rayo.ErrKVNotFound) {
		t.Errorf("a withdrawn request was answered: %v", err)
	}
	if _, err := rayo.KVGet(ctx, serve.ConfigKey, ns); len(appNames(t)) != 0 || !errors.Is(err, rayo.ErrKVNotFound) {
		t.Fatalf("a withdrawn request changed Serve: applications %v, config %v", appNames(t), err)
	}

	// Claimed by an earlier controller, not answered: handled again.
	put(claimPrefix+"c0c0", "controller")
	request("c0c0", strings.Replace(opsConfig("again"), "import_path", "import_pth", 1))
	waitKV(t, serve.ResultPrefix+"c0c0", true)
	waitKV(t, claimPrefix+"c0c0", false)
	if res := readAnswer(t, "c0c0"); !res.Invalid || !strings.Contains(res.Error, "import_pth") {
		t.Fatalf("the request claimed before: %+v", res)
	}

	// A slow request, with what earlier ones left: an old answer no one
	// read, another request's claim.
	old, _ := json.Marshal(map[string]any{"id": "0dd0", "ok": true, "at": time.Now().Add(-11 * time.Minute)})
	put(serve.ResultPrefix+"0dd0", string(old))
	put(serve.ResultPrefix+"1ee1", `{"id":"1ee1","ok":true,"at":"`+time.Now().Format(time.RFC3339Nano)+`"}`)
	put(claimPrefix+"aaaa", "dashboard")
	request("5105", "http_options: {port: 0}\napplications:\n  - {name: gated, route_prefix: /gated, import_path: test:gated}\n")
	waitKV(t, claimPrefix+"5105", true)
	// The dashboard's wait ran out: it loses the claim (and answers 202).
	if added, err := rayo.KVPut(ctx, claimPrefix+"5105", []byte("dashboard"), ns, rayo.KVNoOverwrite()); err != nil || added {
		t.Fatalf("the dashboard claimed a request being handled: %v %v", added, err)
	}
	waitKV(t, serve.ResultPrefix+"0dd0", false)
	waitKV(t, claimPrefix+"aaaa", false)
	if _, err := rayo.KVPut(ctx, gateKey, nil, rayo.KVNamespace(gateNS)); err != nil {
		t.Fatal(err)
	}
	waitKV(t, serve.ResultPrefix+"5105", true)
	waitKV(t, claimPrefix+"5105", false)
	if res := readAnswer(t, "5105"); res.OK || !strings.Contains(res.Error, "the gate opened") {
		t.Fatalf("the slow request: %+v", res)
	}
	// A recent answer stays for its reader.
	waitKV(t, serve.ResultPrefix+"1ee1", true)
	_, _ = rayo.KVDelete(ctx, serve.ResultPrefix+"1ee1", ns)
	if keys, err := rayo.KVList(ctx, serve.ResultPrefix, ns); err != nil || len(keys) != 0 {
		t.Fatalf("left: %v %v", keys, err)
	}
}

// readAnswer reads and deletes the answer to request id.
func readAnswer(t *testing.T, id string) opsResult {
	t.Helper()
	ctx := context.Background()
	ns := rayo.KVNamespace(serve.KVNamespace)
	b, err := rayo.KVGet(ctx, serve.ResultPrefix+id, ns)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = rayo.KVDelete(ctx, serve.ResultPrefix+id, ns)
	var res opsResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}
