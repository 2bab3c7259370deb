package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// GET /metrics: the whole cluster in one Prometheus scrape.
//
//   - cluster state, from the head's ClusterStatus: rayo_nodes,
//     rayo_actors, rayo_placement_groups and rayo_jobs, by state;
//   - the head's registry (head.Metrics): its RPC latencies, and the
//     application metrics drivers and workers push (rayo_app_*);
//   - each live node daemon's registry (node.Metrics), asked in
//     parallel, with a node_id label added: RPC latencies, resources,
//     workers, object store.
//
// A daemon that does not answer is left out of the answer, never fails
// it: a comment line says why and rayo_scrape_errors_total counts it.

// nodeScrapeTimeout bounds each daemon's answer.
const nodeScrapeTimeout = 3 * time.Second

type metricsState struct {
	reg          *prometheus.Registry
	scrapeErrors *prometheus.CounterVec
}

func (s *Server) metricsRoutes() {
	reg := prometheus.NewRegistry()
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rayo_scrape_errors_total",
		Help: "Daemons that did not answer the dashboard's scrape (their metrics were left out), by component and node."},
		[]string{"component", "node_id"})
	reg.MustRegister(errs)
	s.metrics = &metricsState{reg: reg, scrapeErrors: errs}
	s.mux.HandleFunc("GET /metrics", s.serveMetrics)
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fams := map[string]*dto.MetricFamily{}
	var notes []string
	fail := func(component, nodeID string, err error) {
		s.metrics.scrapeErrors.WithLabelValues(component, nodeID).Inc()
		what := component
		if nodeID != "" {
			what += " " + nodeID
		}
		notes = append(notes, fmt.Sprintf("%s left out: %v", what, err))
	}
	st, err := s.status(r)
	if err != nil {
		fail("head", "", err)
	} else {
		if err := merge(fams, clusterStateFamilies(st), ""); err != nil {
			notes = append(notes, err.Error())
		}
		var ts protocol.TaskSummaryReply
		if err := s.call(ctx, protocol.HeadTaskSummary, &protocol.Empty{}, &ts); err != nil {
			fail("head", "", err)
		} else if err := merge(fams, taskFamilies(&ts), ""); err != nil {
			notes = append(notes, err.Error())
		}
		var hm protocol.MetricsReply
		if err := s.call(ctx, protocol.HeadMetrics, &protocol.Empty{}, &hm); err != nil {
			fail("head", "", err)
		} else if err := mergeText(fams, hm.Text, ""); err != nil {
			fail("head", "", err)
		}
		for _, res := range s.scrapeNodes(ctx, st.Nodes) {
			if res.err == nil {
				res.err = mergeText(fams, res.text, res.nodeID)
			}
			if res.err != nil {
				fail("node", res.nodeID, res.err)
			}
		}
	}
	own, err := s.metrics.reg.Gather()
	if err == nil {
		err = merge(fams, own, "")
	}
	if err != nil {
		notes = append(notes, err.Error())
	}
	names := make([]string, 0, len(fams))
	for name := range fams {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range notes {
		// A comment line: scrapers ignore it, people reading see it.
		fmt.Fprintf(&buf, "# rayo: %s\n", strings.ReplaceAll(n, "\n", " "))
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	enc := expfmt.NewEncoder(&buf, format)
	for _, name := range names {
		if err := enc.Encode(fams[name]); err != nil {
			writeError(w, http.StatusInternalServerError, "encoding "+name+": "+err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", string(format))
	_, _ = w.Write(buf.Bytes())
}

type nodeScrape struct {
	nodeID string
	text   []byte
	err    error
}

// scrapeNodes asks every live node for its metrics, in parallel.
func (s *Server) scrapeNodes(ctx context.Context, nodes []protocol.NodeState) []nodeScrape {
	var out []nodeScrape
	for _, n := range nodes {
		if n.Alive && !n.Reconnecting {
			out = append(out, nodeScrape{nodeID: n.Info.NodeID})
		}
	}
	addrs := map[string]string{}
	for _, n := range nodes {
		addrs[n.Info.NodeID] = n.Info.Addr
	}
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func(res *nodeScrape) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, nodeScrapeTimeout)
			defer cancel()
			c, err := s.conns.Get(cctx, addrs[res.nodeID])
			if err != nil {
				res.err = err
				return
			}
			var reply protocol.MetricsReply
			if res.err = c.Call(cctx, protocol.NodeMetrics, &protocol.Empty{}, &reply); res.err == nil {
				res.text = reply.Text
			}
		}(&out[i])
	}
	wg.Wait()
	return out
}

// clusterStateFamilies counts nodes, actors, placement groups and jobs by
// state. Every known state is present, zero or not, so that a state
// emptied shows 0 rather than vanishing.
func clusterStateFamilies(st *protocol.ClusterStatusReply) []*dto.MetricFamily {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, states []string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"state"})
		for _, s := range states {
			g.WithLabelValues(s)
		}
		reg.MustRegister(g)
		return g
	}
	nodes := gauge("rayo_nodes", "Nodes the head knows, by state.", []string{"ALIVE", "DRAINING", "RECONNECTING", "DEAD"})
	for i := range st.Nodes {
		nodes.WithLabelValues(st.Nodes[i].StateName()).Inc()
	}
	actors := gauge("rayo_actors", "Actors, by state.",
		[]string{protocol.ActorPending, protocol.ActorAlive, protocol.ActorRestarting, protocol.ActorDead})
	for _, a := range st.Actors {
		actors.WithLabelValues(a.State).Inc()
	}
	pgs := gauge("rayo_placement_groups", "Placement groups, by state.",
		[]string{protocol.PGPending, protocol.PGCreated, protocol.PGRescheduling, protocol.PGRemoved})
	for _, g := range st.PGs {
		pgs.WithLabelValues(g.State).Inc()
	}
	jobs := gauge("rayo_jobs", "Jobs, by state.", []string{"RUNNING", "FINISHED"})
	for _, j := range st.Jobs {
		state := "RUNNING"
		if !j.Alive {
			state = "FINISHED"
		}
		jobs.WithLabelValues(state).Inc()
	}
	mfs, _ := reg.Gather() // gauges set above cannot fail to gather
	return mfs
}

// taskFamilies counts the head's task records by state and by name
// (rayo_tasks{state}, rayo_tasks_by_name{name,state}), and the task events
// dropped (rayo_task_events_dropped_total).
func taskFamilies(ts *protocol.TaskSummaryReply) []*dto.MetricFamily {
	reg := prometheus.NewRegistry()
	byState := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rayo_tasks",
		Help: "Tasks the head has records of, by state."}, []string{"state"})
	byName := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rayo_tasks_by_name",
		Help: "Tasks the head has records of, by name and state."}, []string{"name", "state"})
	for _, st := range []string{protocol.TaskPendingArgs, protocol.TaskPendingNode, protocol.TaskRunning, protocol.TaskFinished, protocol.TaskFailed} {
		byState.WithLabelValues(st)
	}
	for name, states := range ts.ByName {
		for st, n := range states {
			byState.WithLabelValues(st).Add(float64(n))
			byName.WithLabelValues(name, st).Set(float64(n))
		}
	}
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "rayo_task_events_dropped_total",
		Help: "Task events lost: records evicted beyond the head's budget, and events processes could not deliver."})
	dropped.Add(float64(ts.Dropped))
	reg.MustRegister(byState, byName, dropped)
	mfs, _ := reg.Gather() // values set above cannot fail to gather
	return mfs
}

// mergeText parses a daemon's text exposition and merges it into fams,
// adding node_id when nodeID is set.
func mergeText(fams map[string]*dto.MetricFamily, text []byte, nodeID string) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return fmt.Errorf("malformed metrics: %w", err)
	}
	mfs := make([]*dto.MetricFamily, 0, len(parsed))
	for _, mf := range parsed {
		mfs = append(mfs, mf)
	}
	return merge(fams, mfs, nodeID)
}

// merge adds mfs to fams, with a node_id label (replacing any) when
// nodeID is set. A family whose type differs from the one already merged
// under its name is left out, with an error that says so.
func merge(fams map[string]*dto.MetricFamily, mfs []*dto.MetricFamily, nodeID string) error {
	var conflicts []string
	for _, mf := range mfs {
		if nodeID != "" {
			for _, m := range mf.Metric {
				setLabel(m, "node_id", nodeID)
			}
		}
		cur := fams[mf.GetName()]
		if cur == nil {
			fams[mf.GetName()] = mf
			continue
		}
		if cur.GetType() != mf.GetType() {
			conflicts = append(conflicts, mf.GetName())
			continue
		}
		cur.Metric = append(cur.Metric, mf.Metric...)
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("left out metrics whose type differs between daemons: %s", strings.Join(conflicts, ", "))
	}
	return nil
}

func setLabel(m *dto.Metric, name, value string) {
	for _, lp := range m.Label {
		if lp.GetName() == name {
			lp.Value = &value
			return
		}
	}
	m.Label = append(m.Label, &dto.LabelPair{Name: &name, Value: &value})
	sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
}
