// Package activities holds one Temporal activity per phase of the terminate
// pipeline, as methods on Activities, which holds their dependencies. Every
// activity is idempotent: Temporal may run it again after a crash.
package activities

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// Activities are the pipeline's activities and what they need.
type Activities struct {
	Store   *dbmodel.Store
	PVE     map[string]*pve.Client // by configured server name
	DNS     []dns.Provider
	Out     io.Writer // live output; os.Stdout when nil
	Secrets Redactor  // every configured secret, replaced by [redacted] wherever we write text
	Requeue *Requeuer // for Reconcile; nil on workers that do not reconcile

	outMu sync.Mutex
}

func (a *Activities) client(server string) (*pve.Client, error) {
	c, ok := a.PVE[server]
	if !ok {
		names := make([]string, 0, len(a.PVE))
		for n := range a.PVE {
			names = append(names, n)
		}
		return nil, fmt.Errorf("proxmox server %q of the VM row is not configured (configured: %s)", server, strings.Join(names, ", "))
	}
	return c, nil
}

// lines collects an activity's live lines and prints each one at once,
// flushed, with its timestamp and service id; each also goes to the
// structured log with the service, vmid, node, phase and attempt.
type lines struct {
	a         *Activities
	serviceID int
	list      []pipeline.Line
	log       log.Logger
}

func (a *Activities) newLines(ctx context.Context, t pipeline.Target, phase string) *lines {
	l := &lines{a: a, serviceID: t.ServiceID}
	if activity.IsActivity(ctx) {
		l.log = log.With(activity.GetLogger(ctx), "service_id", t.ServiceID, "vmid", t.VMID, "node", t.Node, "phase", phase, "attempt", t.Attempt)
	}
	return l
}

func (l *lines) add(format string, args ...any) {
	line := pipeline.Line{At: time.Now().UTC(), Text: l.a.Secrets.Redact(fmt.Sprintf(format, args...))}
	l.list = append(l.list, line)
	l.a.print(line.Format(l.serviceID))
	if l.log != nil {
		l.log.Info(line.Text)
	}
}

// metrics returns the activity's metrics handler (SDK tags included), or a
// no-op one outside an activity.
func metrics(ctx context.Context) client.MetricsHandler {
	if activity.IsActivity(ctx) {
		return activity.GetMetricsHandler(ctx)
	}
	return client.MetricsNopHandler
}

// observePhase records a phase's duration as terminate_phase_duration_seconds{phase}.
func observePhase(ctx context.Context, phase string, start time.Time) {
	metrics(ctx).WithTags(map[string]string{"phase": phase}).Timer("terminate_phase_duration").Record(time.Since(start))
}

// beginPhase opens a phase's activity: ctx marks the service (the module
// log's rows carry it), l logs under the phase's name, and end, deferred,
// records the phase's duration.
func (a *Activities) beginPhase(ctx context.Context, t pipeline.Target, phase string) (_ context.Context, l *lines, end func()) {
	ctx = withService(ctx, t.ServiceID)
	start := time.Now()
	return ctx, a.newLines(ctx, t, phase), func() { observePhase(ctx, phase, start) }
}

func (a *Activities) print(s string) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	w := a.Out
	if w == nil {
		w = os.Stdout
	}
	fmt.Fprintln(w, s)
	if f, ok := w.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
}

// Redactor is the list of configured secrets.
type Redactor []string

// Redact replaces every configured secret in s.
func (r Redactor) Redact(s string) string {
	for _, sec := range r {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// heartbeat records progress so that a retry can resume and so that
// `starter --follow` can show the lines of a running phase.
func heartbeat(ctx context.Context, p Progress) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, p)
	}
}

// Progress is the heartbeat detail of long activities.
type Progress struct {
	Waited time.Duration   `json:"waited"`
	UPID   string          `json:"upid,omitempty"`
	Lines  []pipeline.Line `json:"lines"`
	// Queued: the activity still waits for a node slot and has sent
	// nothing; a retry starts afresh.
	Queued bool `json:"queued,omitempty"`
}

func lastProgress(ctx context.Context) (Progress, bool) {
	var p Progress
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return p, false
	}
	if err := activity.GetHeartbeatDetails(ctx, &p); err != nil || p.Queued {
		return Progress{}, false
	}
	return p, true
}

// whileQueued makes a shutdown or stop that waits for a node slot heartbeat
// (marked Queued, so that a retry knows nothing was sent): waiting in line
// never looks like a dead worker, and the phase's window only starts once
// the request is sent.
func whileQueued(ctx context.Context, l *lines) context.Context {
	return pve.WithQueueWait(ctx, func() { heartbeat(ctx, Progress{Queued: true, Lines: l.list}) })
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// secs renders a duration as the spec does ("15s"), with a decimal only
// when the windows are compressed below whole seconds.
func secs(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
