// Package metrics exposes the Temporal SDK's metrics and our own on a
// Prometheus registry. (The SDK's tally adapter is not served by the module
// proxy, so this is a small client.MetricsHandler over client_golang.)
package metrics

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// Handler is a client.MetricsHandler backed by a Prometheus registry. A
// metric's label names are fixed by its first use; later uses fill missing
// labels with "" and drop unknown ones (Prometheus needs fixed label sets).
type Handler struct {
	reg  *prometheus.Registry
	tags map[string]string
	st   *state
}

type state struct {
	mu     sync.Mutex
	vecs   map[string]any
	labels map[string][]string
}

// New returns a handler registering on reg.
func New(reg *prometheus.Registry) *Handler {
	return &Handler{reg: reg, tags: map[string]string{}, st: &state{vecs: map[string]any{}, labels: map[string][]string{}}}
}

// WithTags returns a handler whose metrics carry tags too.
func (h *Handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &Handler{reg: h.reg, tags: merged, st: h.st}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func (h *Handler) labelNames(name string) []string {
	if names, ok := h.st.labels[name]; ok {
		return names
	}
	names := make([]string, 0, len(h.tags))
	for k := range h.tags {
		names = append(names, sanitize(k))
	}
	sort.Strings(names)
	h.st.labels[name] = names
	return names
}

func (h *Handler) values(names []string) []string {
	byName := make(map[string]string, len(h.tags))
	for k, v := range h.tags {
		byName[sanitize(k)] = v
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = byName[n]
	}
	return out
}

func (h *Handler) vec(name string, mk func(string, []string) prometheus.Collector) (any, []string) {
	name = sanitize(name)
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	names := h.labelNames(name)
	v, ok := h.st.vecs[name]
	if !ok {
		c := mk(name, names)
		if err := h.reg.Register(c); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				c = are.ExistingCollector
			}
		}
		v = c
		h.st.vecs[name] = v
	}
	return v, h.values(names)
}

// Counter returns a counter.
func (h *Handler) Counter(name string) client.MetricsCounter {
	v, vals := h.vec(name, func(n string, l []string) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: n}, l)
	})
	if cv, ok := v.(*prometheus.CounterVec); ok {
		return counter{cv.WithLabelValues(vals...)}
	}
	return nop{}
}

// Gauge returns a gauge.
func (h *Handler) Gauge(name string) client.MetricsGauge {
	v, vals := h.vec(name, func(n string, l []string) prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: n}, l)
	})
	if gv, ok := v.(*prometheus.GaugeVec); ok {
		return gauge{gv.WithLabelValues(vals...)}
	}
	return nop{}
}

// Timer returns a timer (a histogram in seconds).
func (h *Handler) Timer(name string) client.MetricsTimer {
	v, vals := h.vec(name, func(n string, l []string) prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n + "_seconds", Help: n,
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}}, l)
	})
	if hv, ok := v.(*prometheus.HistogramVec); ok {
		return timer{hv.WithLabelValues(vals...)}
	}
	return nop{}
}

type counter struct{ c prometheus.Counter }

func (c counter) Inc(n int64) { c.c.Add(float64(n)) }

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ o prometheus.Observer }

func (t timer) Record(d time.Duration) { t.o.Observe(d.Seconds()) }

type nop struct{}

func (nop) Inc(int64)              {}
func (nop) Update(float64)         {}
func (nop) Record(_ time.Duration) {}
