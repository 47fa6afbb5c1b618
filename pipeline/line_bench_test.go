package pipeline_test

import (
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

var lineSink string

// BenchmarkLineFormat covers the formatting of every live line (printed by
// the worker, kept for the action log, printed again by `starter --follow`).
func BenchmarkLineFormat(b *testing.B) {
	l := pipeline.Line{At: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), Text: "still running, waited 15s / 120s, status: running"}
	b.ReportAllocs()
	for b.Loop() {
		lineSink = l.Format(5546)
	}
}
