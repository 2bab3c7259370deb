package node

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayo-dev/rayo/internal/protocol"
	"github.com/rayo-dev/rayo/internal/rpc"
)

// The node daemon's metrics: its RPC latencies, its resources, workers
// and object store, in a registry of its own. The head's dashboard asks
// for them (node.Metrics) at each scrape and adds the node_id label.

// startMetrics sets up the registry, times the daemon's RPCs and serves
// node.Metrics.
func (n *Node) startMetrics() {
	reg := prometheus.NewRegistry()
	obs, err := rpc.LatencyObserver(reg, "node")
	if err == nil {
		err = reg.Register(&nodeCollector{n: n})
	}
	if err != nil { // only on a programming error (a duplicate registration)
		n.log.Error("node metrics disabled", "err", err)
		return
	}
	n.rpc.SetObserver(obs)
	rpc.Register(n.rpc, protocol.NodeMetrics, func(context.Context, *protocol.Empty) (*protocol.MetricsReply, error) {
		text, err := rpc.ExpositionText(reg)
		if err != nil {
			return nil, err
		}
		return &protocol.MetricsReply{NodeID: n.cfg.NodeID, Text: text}, nil
	})
}

var (
	descResTotal = prometheus.NewDesc("rayo_resources_total",
		"The node's total of a resource (CPU and GPU in units, memory in bytes), placement-group bundles included.", []string{"resource"}, nil)
	descResUsed = prometheus.NewDesc("rayo_resources_used",
		"How much of a resource leases and bundles hold on the node.", []string{"resource"}, nil)
	descWorkers        = prometheus.NewDesc("rayo_node_workers", "Worker processes of the node.", nil, nil)
	descStoreUsed      = prometheus.NewDesc("rayo_object_store_used_bytes", "Bytes of the shared-memory object store in use.", nil, nil)
	descStoreCapacity  = prometheus.NewDesc("rayo_object_store_capacity_bytes", "Capacity of the shared-memory object store.", nil, nil)
	descStoreSpilled   = prometheus.NewDesc("rayo_object_store_spilled_bytes", "Bytes of objects spilled to disk.", nil, nil)
	descStoreFallback  = prometheus.NewDesc("rayo_object_store_fallback_bytes", "Bytes of objects in fallback files (the store was full).", nil, nil)
	descStoreObjects   = prometheus.NewDesc("rayo_object_store_objects", "Objects the node's store holds, spilled ones included.", nil, nil)
	descStoreSpilledN  = prometheus.NewDesc("rayo_object_store_spilled_objects", "Objects spilled to disk.", nil, nil)
	descStoreSpills    = prometheus.NewDesc("rayo_object_store_spills_total", "Objects spilled since the node started.", nil, nil)
	descStoreRestores  = prometheus.NewDesc("rayo_object_store_restores_total", "Spilled objects restored since the node started.", nil, nil)
	descStoreEvictions = prometheus.NewDesc("rayo_object_store_evictions_total", "Secondary copies evicted since the node started.", nil, nil)
)

// nodeCollector reads the node's state at each scrape.
type nodeCollector struct{ n *Node }

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descResTotal, descResUsed, descWorkers, descStoreUsed, descStoreCapacity,
		descStoreSpilled, descStoreFallback, descStoreObjects, descStoreSpilledN, descStoreSpills, descStoreRestores, descStoreEvictions} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	n.mu.Lock()
	total, avail, workers := n.total.Clone(), n.available.Clone(), len(n.workers)
	n.mu.Unlock()
	used := total.Clone()
	used.Sub(avail)
	usedF := used.ToFloat()
	for name, v := range total.ToFloat() {
		ch <- prometheus.MustNewConstMetric(descResTotal, prometheus.GaugeValue, v, name)
		ch <- prometheus.MustNewConstMetric(descResUsed, prometheus.GaugeValue, usedF[name], name)
	}
	ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(workers))
	st := n.store.Stats()
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v float64
	}{
		{descStoreUsed, prometheus.GaugeValue, float64(st.Used)},
		{descStoreCapacity, prometheus.GaugeValue, float64(st.Capacity)},
		{descStoreSpilled, prometheus.GaugeValue, float64(st.SpilledBytes)},
		{descStoreFallback, prometheus.GaugeValue, float64(st.FallbackBytes)},
		{descStoreObjects, prometheus.GaugeValue, float64(st.Objects)},
		{descStoreSpilledN, prometheus.GaugeValue, float64(st.SpilledObjects)},
		{descStoreSpills, prometheus.CounterValue, float64(st.Spills)},
		{descStoreRestores, prometheus.CounterValue, float64(st.Restores)},
		{descStoreEvictions, prometheus.CounterValue, float64(st.Evictions)},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, m.t, m.v)
	}
}
