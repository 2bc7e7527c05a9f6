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
	flushedBytes prometheus.Counter

	compactions            *prometheus.CounterVec // by outcome: ok, stale, error
	compactionsRunning     prometheus.Gauge
	compactionBytesRead    prometheus.Counter
	compactionBytesWritten prometheus.Counter
	compactionSeconds      prometheus.Histogram
	commitBatch            prometheus.Histogram     // writes per group-commit entry
	rpcs                   *prometheus.CounterVec   // by procedure and code
	rpcSeconds             *prometheus.HistogramVec // by procedure
	authFailures           *prometheus.CounterVec   // by reason
	forwardBatch           prometheus.Histogram
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
		flushedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miniodb_flushed_bytes_total", Help: "Bytes of Parquet files written by flushes and committed.",
		}),
		compactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "miniodb_compactions_total", Help: "Merges by outcome: ok, stale (lost to a concurrent change), error.",
		}, []string{"outcome"}),
		compactionsRunning: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "miniodb_compactions_running", Help: "Merges running on this node.",
		}),
		compactionBytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miniodb_compaction_bytes_read_total", Help: "Bytes of files merged (committed merges).",
		}),
		compactionBytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "miniodb_compaction_bytes_written_total", Help: "Bytes of merged files committed. Write amplification: (this + flushed bytes) / flushed bytes.",
		}),
		compactionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "miniodb_compaction_seconds", Help: "Time to fetch, merge, upload and commit one merge.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
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
		forwardBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "miniodb_forward_batch_writes", Help: "Write requests per WriteMany call a follower sent the leader.", Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "miniodb_auth_failures_total", Help: "Requests refused for a missing, malformed, invalid or expired token, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.writes, m.writeRows, m.writeSeconds, m.queries, m.querySeconds,
		m.flushes, m.flushErrors, m.flushedRows, m.flushSeconds, m.flushedBytes, m.commitBatch, m.rpcs, m.rpcSeconds, m.authFailures, m.forwardBatch,
		m.compactions, m.compactionsRunning, m.compactionBytesRead, m.compactionBytesWritten, m.compactionSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "miniodb_hot_bytes", Help: "Approximate memory held by hot (unflushed) rows.",
	}, func() float64 { return float64(n.fsm.HotBytes()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "miniodb_max_files_per_partition", Help: "The most live files any one table partition has.",
	}, func() float64 {
		var most int64
		for _, v := range n.fsm.Tables() {
			most = max(most, maxFilesPerPartition(v))
		}
		return float64(most)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "miniodb_compactions_pending", Help: "Merges the planner would start now (on the leader).",
	}, func() float64 { return float64(n.pendingMerges("")) }))
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
