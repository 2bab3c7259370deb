package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/rayo-dev/rayo/internal/rpc"
)

// Row is one record of a list: flat, snake_case keys (as Ray's state
// API names them), JSON values.
type Row = map[string]any

// ListReply is the answer of every /api/v0 list endpoint.
type ListReply struct {
	Result []Row `json:"result"`
	// Total is the number of records that matched the filters; Result
	// holds at most the limit of them.
	Total     int  `json:"total"`
	Truncated bool `json:"truncated"`
	// Warnings say what the answer may lack (e.g. task events dropped
	// under the head's memory budget, a node that did not answer).
	Warnings []string `json:"warnings,omitempty"`
}

// ErrorReply is the body of every error answer.
type ErrorReply struct {
	Error string `json:"error"`
}

// DefaultLimit is how many records a list returns unless ?limit says.
const DefaultLimit = 100

// MaxLimit bounds ?limit.
const MaxLimit = 10000

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorReply{Error: msg})
}

// writeCallError answers an error from the head (or reaching it).
func writeCallError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errHeadDown):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case strings.HasSuffix(rpc.CodeOf(err), "not_found"):
		writeError(w, http.StatusNotFound, err.Error())
	case rpc.CodeOf(err) == rpc.CodeBadRequest:
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// Filter is one key=value or key!=value condition.
type Filter struct {
	Key    string
	Value  string
	Negate bool
}

// ParseFilter parses "key=value" or "key!=value".
func ParseFilter(s string) (Filter, error) {
	if k, v, ok := strings.Cut(s, "!="); ok && k != "" {
		return Filter{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), Negate: true}, nil
	}
	if k, v, ok := strings.Cut(s, "="); ok && k != "" {
		return Filter{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)}, nil
	}
	return Filter{}, fmt.Errorf("filter %q is not key=value or key!=value", s)
}

// Match reports whether a row passes the filter. Values compare as
// text, case-insensitively; a missing key is the empty string.
func (f Filter) Match(r Row) bool {
	eq := strings.EqualFold(valueText(r[f.Key]), f.Value)
	return eq != f.Negate
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// listQuery is a list request's filters and limit.
type listQuery struct {
	filters []Filter
	limit   int
}

func parseListQuery(r *http.Request) (listQuery, error) {
	q := listQuery{limit: DefaultLimit}
	for _, s := range r.URL.Query()["filter"] {
		f, err := ParseFilter(s)
		if err != nil {
			return q, err
		}
		q.filters = append(q.filters, f)
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return q, fmt.Errorf("limit %q is not a positive number", v)
		}
		q.limit = min(n, MaxLimit)
	}
	return q, nil
}

// apply filters rows, sorts them by sortKey (stable: the source order
// breaks ties) and cuts them to the limit.
func (q listQuery) apply(rows []Row, sortKey string) ListReply {
	out := rows[:0:0]
	for _, r := range rows {
		ok := true
		for _, f := range q.filters {
			ok = ok && f.Match(r)
		}
		if ok {
			out = append(out, r)
		}
	}
	if sortKey != "" {
		sort.SliceStable(out, func(i, j int) bool { return valueText(out[i][sortKey]) < valueText(out[j][sortKey]) })
	}
	reply := ListReply{Total: len(out), Result: out}
	if len(out) > q.limit {
		reply.Result, reply.Truncated = out[:q.limit], true
	}
	if reply.Result == nil {
		reply.Result = []Row{}
	}
	return reply
}

// serveList is the handler of a list endpoint: rows gives the records.
func (s *Server) serveList(sortKey string, rows func(r *http.Request) ([]Row, []string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := parseListQuery(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		all, warnings, err := rows(r)
		if err != nil {
			writeCallError(w, err)
			return
		}
		reply := q.apply(all, sortKey)
		reply.Warnings = warnings
		writeJSON(w, http.StatusOK, reply)
	}
}
