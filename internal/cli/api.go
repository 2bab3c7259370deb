package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rayo-dev/rayo/internal/session"
)

// apiClient calls the head's HTTP API (the dashboard server) with the
// cluster token.
type apiClient struct {
	base  string // http://host:port
	token string
	http  *http.Client
}

// api resolves the HTTP API's address: --dashboard-address, then
// RAYO_DASHBOARD_ADDRESS, then the head's answer (the head found as every
// command finds it); and the token as every command does.
func (f *clusterFlags) api(ctx context.Context) (*apiClient, error) {
	addr := f.dashboard
	if addr == "" {
		addr = os.Getenv("RAYO_DASHBOARD_ADDRESS")
	}
	token := strings.TrimSpace(f.token)
	if token == "" {
		token = strings.TrimSpace(os.Getenv("RAYO_TOKEN"))
	}
	// A remote API with its token needs nothing local: no session, no head.
	if addr == "" || token == "" {
		headAddr, tok, err := session.Resolve(f.tempDir, f.address, token)
		if err != nil {
			return nil, err
		}
		token = tok
		if addr == "" {
			// Ask the head where its HTTP API is.
			st, err := fetchStatus(ctx, f.tempDir, headAddr, token)
			if err != nil {
				return nil, err
			}
			if st.DashboardAddr == "" {
				return nil, fmt.Errorf("the head at %s runs no HTTP API", headAddr)
			}
			addr = reachable(st.DashboardAddr, headAddr)
		}
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &apiClient{base: strings.TrimRight(addr, "/"), token: token, http: &http.Client{Timeout: time.Minute}}, nil
}

// reachable replaces an unspecified listening host (0.0.0.0, ::) with the
// head's host.
func reachable(addr, headAddr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if hh, _, err := net.SplitHostPort(headAddr); err == nil {
			return net.JoinHostPort(hh, port)
		}
	}
	return addr
}

// APIError is an error answer of the HTTP API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	if e.Status == http.StatusUnauthorized {
		return "the cluster refused the token: " + e.Message
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// do sends a request and decodes a JSON answer into out (nil: discard).
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string, out any) error {
	resp, err := c.send(ctx, method, path, query, body, contentType)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send sends a request and returns the response of a 2xx answer, whose
// body the caller closes.
func (c *apiClient) send(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the cluster's HTTP API at %s: %w", c.base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

// get is do with GET and no body.
func (c *apiClient) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, nil, "", out)
}
