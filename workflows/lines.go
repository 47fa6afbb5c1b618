package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// Bounds of a run waiting for admins over weeks.
const (
	// fullAttempts is how many of the latest attempts the status query
	// shows line by line; each older one is one summary line.
	fullAttempts = 3
	// maxAttemptsPerRun: after this many attempts a run waiting in
	// error_terminate continues as new (also when Temporal suggests it).
	maxAttemptsPerRun = 10
)

// segment is where one attempt's lines (and the admin lines after it)
// start in status.Lines.
type segment struct {
	attempt    int
	start      int
	summarised bool
}

// beginAttempt opens the lines of a new attempt and summarises the oldest
// attempts beyond fullAttempts.
func (r *run) beginAttempt(attempt int) {
	if r.version < versionChecked {
		return
	}
	r.attempts++
	r.segments = append(r.segments, segment{attempt: attempt, start: len(r.status.Lines)})
	full := 0
	for _, s := range r.segments {
		if !s.summarised {
			full++
		}
	}
	for i := 0; i < len(r.segments) && full > fullAttempts; i++ {
		if r.segments[i].summarised {
			continue
		}
		r.summarise(i)
		full--
	}
}

// summarise replaces segment i's lines by one line.
func (r *run) summarise(i int) {
	s := &r.segments[i]
	end := len(r.status.Lines)
	if i+1 < len(r.segments) {
		end = r.segments[i+1].start
	}
	part := r.status.Lines[s.start:end]
	if len(part) == 0 {
		s.summarised = true
		return
	}
	sum := pipeline.Line{At: part[0].At, Text: fmt.Sprintf("attempt %d: %d lines summarised; last: %s", s.attempt, len(part), part[len(part)-1].Text)}
	if s.attempt == 0 {
		sum.Text = fmt.Sprintf("earlier runs: %d lines summarised; last: %s", len(part), part[len(part)-1].Text)
	}
	lines := make([]pipeline.Line, 0, len(r.status.Lines)-len(part)+1)
	lines = append(lines, r.status.Lines[:s.start]...)
	lines = append(lines, sum)
	lines = append(lines, r.status.Lines[end:]...)
	r.status.Lines = lines
	s.summarised = true
	for j := i + 1; j < len(r.segments); j++ {
		r.segments[j].start -= len(part) - 1
	}
}

// shouldContinueAsNew tells whether a run about to wait in error_terminate
// starts afresh: Temporal suggests it, or the run made maxAttemptsPerRun
// attempts. Never while a signal is still unread.
func (r *run) shouldContinueAsNew(ctx workflow.Context, resetCh, deleteCh workflow.ReceiveChannel) bool {
	if resetCh.Len() > 0 || deleteCh.Len() > 0 || r.admin.busy {
		return false
	}
	return workflow.GetInfo(ctx).GetContinueAsNewSuggested() || r.attempts >= maxAttemptsPerRun
}

// resumeState is what the next run needs to go on waiting.
func (r *run) resumeState() *pipeline.Resume {
	return &pipeline.Resume{Attempt: r.status.Attempt, LastError: r.status.LastError, VMID: r.vmid, Node: r.node, Lines: r.status.Lines}
}

// resume starts a continued run where the last one stopped: waiting in
// error_terminate.
func (r *run) resume(ctx workflow.Context, rs *pipeline.Resume) {
	r.status.Attempt, r.status.LastError, r.vmid, r.node = rs.Attempt, rs.LastError, rs.VMID, rs.Node
	r.status.Lines = append(r.status.Lines, rs.Lines...)
	r.segments = []segment{{attempt: 0, start: 0}}
	r.status.Result = "error"
	if r.version >= versionLean {
		r.set(ctx, pipeline.PhaseWaiting, dbmodel.StatusErrorTerminate, r.sa.target(rs.VMID, rs.Node)...)
	} else {
		r.setTarget(ctx, rs.VMID, rs.Node)
		r.set(ctx, pipeline.PhaseWaiting, dbmodel.StatusErrorTerminate)
	}
	r.add([]pipeline.Line{{At: workflow.Now(ctx).UTC(), Text: fmt.Sprintf("continued as a new run after attempt %d; waiting for an admin", rs.Attempt)}})
}
