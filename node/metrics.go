package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the node's Prometheus metrics, registered on the node's own
// registry (no global state).
type metrics struct {
	writes       *prometheus.CounterVec // by outcome
	writeRows    prometheus.Counter
	writeSeconds prometheus.Histogram
	queries      *prometheus.CounterVec // by outcome
	querySeconds prometheus.Histogram
	flushes      prometheus.Counter
	flushErrors  prometheus.Counter
	flushedRows  prometheus.Counter
	flushSeconds prometheus.Histogram
	commitBatch  prometheus.Histogram     // writes per group-commit entry
	rpcs         *prometheus.CounterVec   // by procedure and code
	rpcSeconds   *prometheus.HistogramVec // by procedure
}

func newMetrics(reg *prometheus.Registry, n *Node) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "miniodb_write_requests_total", Help: "Write requests by outcome (ok or a Connect code).",
		}, []string{"outcome"}),
		writeRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miniodb_write_rows_total", Help: "Rows acknowledged.",
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "miniodb_write_seconds", Help: "Write request latency.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "miniodb_query_requests_total", Help: "Query requests by outcome (ok or a Connect code).",
		}, []string{"outcome"}),
		querySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "miniodb_query_seconds", Help: "Query latency.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}),
		flushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miniodb_flushes_total", Help: "Partition flushes committed.",
		}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miniodb_flush_errors_total", Help: "Failed flush attempts (upload or commit).",
		}),
		flushedRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miniodb_flushed_rows_total", Help: "Rows written to Parquet and committed.",
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "miniodb_flush_seconds", Help: "Time to write, upload and commit one partition.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "miniodb_group_commit_writes", Help: "Write requests per group-commit Raft entry.", Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "miniodb_rpc_requests_total", Help: "Connect/gRPC requests by procedure and outcome (ok or a Connect code).",
		}, []string{"procedure", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "miniodb_rpc_seconds", Help: "Connect/gRPC request latency by procedure.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"procedure"}),
	}
	reg.MustRegister(m.writes, m.writeRows, m.writeSeconds, m.queries, m.querySeconds,
		m.flushes, m.flushErrors, m.flushedRows, m.flushSeconds, m.commitBatch, m.rpcs, m.rpcSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "miniodb_hot_bytes", Help: "Approximate memory held by hot (unflushed) rows.",
	}, func() float64 { return float64(n.fsm.HotBytes()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "miniodb_catalog_files", Help: "Live Parquet files in the catalog.",
	}, func() float64 {
		var files int64
		for _, v := range n.fsm.Tables() {
			files += int64(len(v.Files))
		}
		return float64(files)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "miniodb_raft_applied_index", Help: "Index of the last applied Raft entry.",
	}, func() float64 { return float64(n.fsm.AppliedIndex()) }))
	return m
}
