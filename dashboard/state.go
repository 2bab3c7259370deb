package dashboard

import (
	"net/http"

	"github.com/rayo-dev/rayo/internal/protocol"
)

// The state API: what the head knows of nodes, actors, jobs and
// placement groups, as lists with filters, single records, and summaries.

func (s *Server) stateRoutes() {
	s.mux.HandleFunc("GET /api/v0/nodes", s.serveList("node_id", s.statusRows(nodeRows)))
	s.mux.HandleFunc("GET /api/v0/actors", s.serveList("actor_id", s.statusRows(actorRows)))
	s.mux.HandleFunc("GET /api/v0/jobs", s.serveList("job_id", s.statusRows(jobRows)))
	s.mux.HandleFunc("GET /api/v0/placement_groups", s.serveList("placement_group_id", s.statusRows(pgRows)))
	s.mux.HandleFunc("GET /api/v0/nodes/{id}", s.serveOne("node_id", nodeRows))
	s.mux.HandleFunc("GET /api/v0/actors/{id}", s.serveOne("actor_id", actorRows))
	s.mux.HandleFunc("GET /api/v0/placement_groups/{id}", s.serveOne("placement_group_id", pgRows))
	s.mux.HandleFunc("GET /api/v0/summary/actors", s.serveActorSummary)
	s.mux.HandleFunc("GET /api/v0/cluster_status", s.serveClusterStatus)
}

// status fetches the head's ClusterStatus.
func (s *Server) status(r *http.Request) (*protocol.ClusterStatusReply, error) {
	var st protocol.ClusterStatusReply
	err := s.call(r.Context(), protocol.HeadClusterStatus, &protocol.ClusterStatusRequest{}, &st)
	return &st, err
}

func (s *Server) statusRows(conv func(*protocol.ClusterStatusReply) []Row) func(*http.Request) ([]Row, []string, error) {
	return func(r *http.Request) ([]Row, []string, error) {
		st, err := s.status(r)
		if err != nil {
			return nil, nil, err
		}
		return conv(st), nil, nil
	}
}

// serveOne answers GET .../{id} with the record whose key is id.
func (s *Server) serveOne(key string, conv func(*protocol.ClusterStatusReply) []Row) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := s.status(r)
		if err != nil {
			writeCallError(w, err)
			return
		}
		id := r.PathValue("id")
		for _, row := range conv(st) {
			if row[key] == id {
				writeJSON(w, http.StatusOK, row)
				return
			}
		}
		writeError(w, http.StatusNotFound, "no record with "+key+" "+id)
	}
}

func nodeRows(st *protocol.ClusterStatusReply) []Row {
	rows := make([]Row, 0, len(st.Nodes))
	for i := range st.Nodes {
		n := &st.Nodes[i]
		rows = append(rows, Row{"node_id": n.Info.NodeID, "state": n.StateName(), "address": n.Info.Addr,
			"hostname": n.Info.Hostname, "is_head_node": n.Info.IsHead, "pid": n.Info.Pid,
			"resources_total": n.Info.Total.ToFloat(), "resources_available": n.Available.ToFloat(),
			"labels": n.Info.Labels, "num_workers": n.Workers, "start_time_ms": n.Info.StartedAt, "end_time_ms": n.DiedAt})
	}
	return rows
}

func actorRows(st *protocol.ClusterStatusReply) []Row {
	rows := make([]Row, 0, len(st.Actors))
	for i := range st.Actors {
		a := &st.Actors[i]
		row := Row{"actor_id": a.ActorID, "class_name": a.Class, "name": a.Name, "namespace": a.Namespace,
			"state": a.State, "job_id": a.JobID, "node_id": a.NodeID, "pid": a.Pid, "address": a.Addr,
			"num_restarts": a.NumRestarts, "max_restarts": a.MaxRestarts, "detached": a.Detached,
			"required_resources": a.Resources.ToFloat(), "infeasible": a.Infeasible}
		if a.Death != nil {
			row["death_cause"], row["death_message"] = a.Death.Code, a.Death.Message
		}
		rows = append(rows, row)
	}
	return rows
}

func jobRows(st *protocol.ClusterStatusReply) []Row {
	rows := make([]Row, 0, len(st.Jobs))
	for _, j := range st.Jobs {
		status := "RUNNING"
		if !j.Alive {
			status = "FINISHED"
		}
		rows = append(rows, Row{"job_id": j.JobID, "status": status, "driver_pid": j.DriverPid,
			"driver_address": j.DriverAddr, "entrypoint": j.Entrypoint, "start_time_ms": j.StartedAt, "end_time_ms": j.EndedAt})
	}
	return rows
}

func pgRows(st *protocol.ClusterStatusReply) []Row {
	rows := make([]Row, 0, len(st.PGs))
	for _, g := range st.PGs {
		bundles := make([]Row, 0, len(g.Bundles))
		for _, b := range g.Bundles {
			bundles = append(bundles, Row{"index": b.Index, "resources": b.Resources.ToFloat(), "node_id": b.NodeID})
		}
		rows = append(rows, Row{"placement_group_id": g.PGID, "name": g.Name, "state": g.State,
			"strategy": g.Strategy.String(), "job_id": g.JobID, "detached": g.Detached, "infeasible": g.Infeasible,
			"bundles": bundles, "create_time_ms": g.CreatedAt})
	}
	return rows
}

// Summary counts records by a name and a state.
type Summary struct {
	Total   int                       `json:"total"`
	ByName  map[string]map[string]int `json:"by_name"` // name -> state -> count
	ByState map[string]int            `json:"by_state"`
}

func summarize(rows []Row, nameKey, stateKey string) Summary {
	sum := Summary{ByName: map[string]map[string]int{}, ByState: map[string]int{}}
	for _, r := range rows {
		name, state := valueText(r[nameKey]), valueText(r[stateKey])
		if sum.ByName[name] == nil {
			sum.ByName[name] = map[string]int{}
		}
		sum.ByName[name][state]++
		sum.ByState[state]++
		sum.Total++
	}
	return sum
}

func (s *Server) serveActorSummary(w http.ResponseWriter, r *http.Request) {
	st, err := s.status(r)
	if err != nil {
		writeCallError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, summarize(actorRows(st), "class_name", "state"))
}

// ClusterStatusReply is /api/v0/cluster_status: the overview's numbers.
type ClusterStatusReply struct {
	Nodes          map[string]int     `json:"nodes"` // by state
	ResourcesTotal map[string]float64 `json:"resources_total"`
	ResourcesUsed  map[string]float64 `json:"resources_used"`
	Actors         map[string]int     `json:"actors"` // by state
	Jobs           map[string]int     `json:"jobs"`   // by status
	PlacementGroup map[string]int     `json:"placement_groups"`
}

func (s *Server) serveClusterStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.status(r)
	if err != nil {
		writeCallError(w, err)
		return
	}
	out := ClusterStatusReply{Nodes: map[string]int{}, ResourcesTotal: map[string]float64{}, ResourcesUsed: map[string]float64{},
		Actors: map[string]int{}, Jobs: map[string]int{}, PlacementGroup: map[string]int{}}
	for i := range st.Nodes {
		n := &st.Nodes[i]
		out.Nodes[n.StateName()]++
		if !n.Alive {
			continue
		}
		tot, avail := n.Info.Total.ToFloat(), n.Available.ToFloat()
		for k, v := range tot {
			out.ResourcesTotal[k] += v
			out.ResourcesUsed[k] += v - avail[k]
		}
	}
	for _, a := range st.Actors {
		out.Actors[a.State]++
	}
	for _, row := range jobRows(st) {
		out.Jobs[row["status"].(string)]++
	}
	for _, g := range st.PGs {
		out.PlacementGroup[g.State]++
	}
	writeJSON(w, http.StatusOK, out)
}
