// Package metrics holds the collector's Prometheus metrics and serves them
// in the text exposition format.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is the collector's own metrics registry (never the global one,
// so tests and several collectors in one process do not collide).
type Registry struct {
	reg    *prometheus.Registry
	Ingest *Ingest
}

// Ingest are the metrics of report ingestion.
type Ingest struct {
	Reports       *prometheus.CounterVec   // by outcome: stored, duplicate, refused, unavailable
	Rows          *prometheus.CounterVec   // by table
	Inserts       *prometheus.CounterVec   // by table
	InsertSeconds *prometheus.HistogramVec // by table
	Errors        *prometheus.CounterVec   // by kind
	QueueBytes    prometheus.Gauge
	QueueReports  prometheus.Gauge
	BatchReports  prometheus.Histogram
	DrainRate     prometheus.Gauge   // bytes/s the writers empty the queue at, which Retry-After derives from
	Writing       prometheus.Gauge   // batches being written
	JournalBytes  prometheus.Gauge   // bytes of the ingest journal on disk
	Acked         prometheus.Counter // reports answered from the journal before ClickHouse had them
}

// NewIngest makes the ingest metrics without registering them.
func NewIngest() *Ingest {
	return &Ingest{
		Reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "reports_total",
			Help: "Reports received, by outcome: stored, duplicate, unavailable (answered 503), failed.",
		}, []string{"outcome"}),
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "rows_total",
			Help: "Rows written to ClickHouse, by table.",
		}, []string{"table"}),
		Inserts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "inserts_total",
			Help: "INSERT statements sent to ClickHouse, by table.",
		}, []string{"table"}),
		InsertSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "insert_duration_seconds",
			Help:    "Latency of one batch INSERT, by table.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}, []string{"table"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "errors_total",
			Help: "Ingest errors by kind: unavailable, queue_full, insert, journal, other.",
		}, []string{"kind"}),
		QueueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "queue_bytes",
			Help: "Estimated size of the reports waiting to be written.",
		}),
		QueueReports: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "queue_reports",
			Help: "Reports waiting to be written.",
		}),
		BatchReports: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "batch_reports",
			Help:    "Reports written per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		DrainRate: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "drain_bytes_per_second",
			Help: "How fast the writers empty the queue (estimated bytes of reports per second of writing); a full queue's Retry-After derives from it.",
		}),
		Writing: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "batches_writing",
			Help: "Batches being written to ClickHouse.",
		}),
		JournalBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "journal_bytes",
			Help: "Bytes of the ingest journal on disk: reports not yet written to ClickHouse, and the last ones written.",
		}),
		Acked: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "umbra", Subsystem: "ingest", Name: "journal_acks_total",
			Help: "Reports answered once in the journal, before ClickHouse had them (it was slower than the ack wait, or down).",
		}),
	}
}

func (m *Ingest) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Reports, m.Rows, m.Inserts, m.InsertSeconds, m.Errors, m.QueueBytes, m.QueueReports, m.BatchReports, m.DrainRate, m.Writing, m.JournalBytes, m.Acked}
}

// New returns a registry with the Go runtime, process and collector
// metrics.
func New() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r := &Registry{reg: reg, Ingest: NewIngest()}
	reg.MustRegister(r.Ingest.collectors()...)
	return r
}

// Handler serves the metrics in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}
