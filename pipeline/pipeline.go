// Package pipeline holds the types that the starter, the workflow and the
// activities share: the workflow's input, the VM it terminates, the timing
// windows, live lines and the names of signals, queries and phases. None of
// them ever holds a secret: they are all visible in Temporal's history.
package pipeline

import (
	"fmt"
	"strings"
	"time"
)

// Temporal names.
const (
	TaskQueue        = "proxmox-terminate"
	WorkflowName     = "TerminateWorkflow"
	SignalReset      = "reset-status"
	SignalDelete     = "delete-record"
	QueryStatus      = "status"
	WorkflowIDPrefix = "terminate-"
)

// WorkflowID is the workflow ID of a service's termination.
func WorkflowID(serviceID int) string { return fmt.Sprintf("%s%d", WorkflowIDPrefix, serviceID) }

// Phases, in pipeline order.
const (
	PhaseLoad        = "load"
	PhaseStop        = "stop"
	PhaseForceStop   = "force-stop"
	PhaseGrace       = "grace"        // the undo window: VM stopped, nothing else touched (Timing.DestroyDelay)
	PhaseCheckDelete = "check-delete" // will Proxmox accept the DELETE? (before backups and DNS)
	PhaseBackups     = "backups"
	PhaseDNS         = "dns"
	PhaseDelete      = "delete"
	PhaseCleanDB     = "clean-db"
	PhaseFailed      = "error_terminate"
	PhaseWaiting     = "waiting-for-admin"
	PhaseDone        = "done"
)

// Timing holds every interval and window of the pipeline. Production uses
// the spec's values; tests and the demo compress them.
type Timing struct {
	StopPoll         time.Duration `yaml:"stop_poll" json:"stop_poll"`                   // poll VM status every (spec: 5s)
	StopWindow       time.Duration `yaml:"stop_window" json:"stop_window"`               // graceful window (spec: 120s)
	ProgressEvery    time.Duration `yaml:"progress_every" json:"progress_every"`         // "still running" line every (spec: 15s)
	ForceWindow      time.Duration `yaml:"force_window" json:"force_window"`             // after the hard stop (spec: 60s)
	TaskPoll         time.Duration `yaml:"task_poll" json:"task_poll"`                   // poll Proxmox tasks every
	DeleteTaskWindow time.Duration `yaml:"delete_task_window" json:"delete_task_window"` // wait for the destroy task at most
	DeleteAttempts   int           `yaml:"delete_attempts" json:"delete_attempts"`       // DELETE tries on transient errors
	DeleteBackoff    time.Duration `yaml:"delete_backoff" json:"delete_backoff"`         // first retry delay of DELETE
	BackupsWindow    time.Duration `yaml:"backups_window" json:"backups_window"`         // the whole backup phase at most
	DNSWindow        time.Duration `yaml:"dns_window" json:"dns_window"`                 // the whole DNS phase at most
	// DestroyDelay is the undo window (default 0: none, the vendor's
	// behaviour). With a delay the run stops the VM, then waits this long in
	// PhaseGrace, touching nothing else, before it destroys; `starter
	// restore` starts the VM again meanwhile. Read by runs at versionGrace.
	// Omitted when 0, so a config file written from it stays readable by a
	// release before the undo window (unknown keys are errors there).
	DestroyDelay time.Duration `yaml:"destroy_delay,omitempty" json:"destroy_delay,omitempty"`
}

// MaxDestroyDelay bounds Timing.DestroyDelay: a VM stopped for longer than
// 90 days is kept past any billing dispute, and a typo (900h for 90h)
// should not keep it for months.
const MaxDestroyDelay = 90 * 24 * time.Hour

// DefaultTiming is the spec's timing.
func DefaultTiming() Timing {
	return Timing{
		StopPoll: 5 * time.Second, StopWindow: 120 * time.Second, ProgressEvery: 15 * time.Second,
		ForceWindow: 60 * time.Second, TaskPoll: 2 * time.Second, DeleteTaskWindow: 5 * time.Minute,
		DeleteAttempts: 5, DeleteBackoff: 5 * time.Second, BackupsWindow: 10 * time.Minute, DNSWindow: 5 * time.Minute,
	}
}

// WithDefaults fills zero fields from DefaultTiming.
func (t Timing) WithDefaults() Timing {
	d := DefaultTiming()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&t.StopPoll, d.StopPoll)
	set(&t.StopWindow, d.StopWindow)
	set(&t.ProgressEvery, d.ProgressEvery)
	set(&t.ForceWindow, d.ForceWindow)
	set(&t.TaskPoll, d.TaskPoll)
	set(&t.DeleteTaskWindow, d.DeleteTaskWindow)
	set(&t.DeleteBackoff, d.DeleteBackoff)
	set(&t.BackupsWindow, d.BackupsWindow)
	set(&t.DNSWindow, d.DNSWindow)
	if t.DeleteAttempts == 0 {
		t.DeleteAttempts = d.DeleteAttempts
	}
	return t
}

// Validate rejects negative or inconsistent values.
func (t Timing) Validate() error {
	var p []string
	for name, v := range map[string]time.Duration{
		"stop_poll": t.StopPoll, "stop_window": t.StopWindow, "progress_every": t.ProgressEvery,
		"force_window": t.ForceWindow, "task_poll": t.TaskPoll, "delete_task_window": t.DeleteTaskWindow,
		"delete_backoff": t.DeleteBackoff, "backups_window": t.BackupsWindow, "dns_window": t.DNSWindow,
	} {
		if v <= 0 {
			p = append(p, name+" must be positive")
		}
	}
	if t.DeleteAttempts < 1 || t.DeleteAttempts > 100 {
		p = append(p, "delete_attempts must be between 1 and 100")
	}
	if t.DestroyDelay < 0 || t.DestroyDelay > MaxDestroyDelay {
		p = append(p, fmt.Sprintf("destroy_delay must be between 0 (no undo window) and %s (90 days)", MaxDestroyDelay))
	}
	if t.StopPoll > t.StopWindow {
		p = append(p, "stop_poll is longer than stop_window")
	}
	if len(p) > 0 {
		return fmt.Errorf("timing: %s", strings.Join(sortStrings(p), "; "))
	}
	return nil
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// Input is TerminateWorkflow's input.
type Input struct {
	ServiceID int    `json:"service_id"`
	Timing    Timing `json:"timing"`
	// Resume is set when a run waiting in error_terminate continued as new
	// (its history grew long): the new run starts waiting for an admin with
	// what the last one knew. Attempt numbers come from the database, so
	// they keep counting up across runs.
	Resume *Resume `json:"resume,omitempty"`
	// RestoreTo is the vm_status the row had before the click: a restore
	// during the undo window puts it back ("" or a status no admin may set:
	// ready).
	RestoreTo string `json:"restore_to,omitempty"`
}

// Resume is what a run waiting in error_terminate hands to the run it
// continues as.
type Resume struct {
	Attempt   int    `json:"attempt"`
	LastError string `json:"last_error"`
	VMID      int    `json:"vmid"`
	Node      string `json:"node"`
	Lines     []Line `json:"lines"` // the status lines, already bounded
}

// Target is the VM a run terminates, read from the database at the start of
// an attempt. It holds identities, never credentials.
type Target struct {
	ServiceID int      `json:"service_id"`
	UserID    int      `json:"user_id"`
	Server    string   `json:"server"` // configured Proxmox server name
	Node      string   `json:"node"`
	VMID      int      `json:"vmid"`
	VMName    string   `json:"vm_name"`
	VMUUID    string   `json:"vm_uuid,omitempty"`
	Domain    string   `json:"domain"` // FQDN for forward DNS
	IPs       []string `json:"ips"`    // every IPv4/IPv6 of dedicatedip and assignedips
	VMStatus  string   `json:"vm_status"`
	Attempt   int      `json:"attempt"` // this attempt's number (logged attempts + 1)
}

// Line is one live-output line.
type Line struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Format renders a line for terminals and logs: timestamp, service, text.
func (l Line) Format(serviceID int) string {
	return l.At.UTC().Format("2006-01-02 15:04:05") + " [service " + fmt.Sprint(serviceID) + "] " + l.Text
}

// Status is what the "status" query returns.
type Status struct {
	ServiceID int    `json:"service_id"`
	Phase     string `json:"phase"`
	VMStatus  string `json:"vm_status"`
	Attempt   int    `json:"attempt"`
	LastError string `json:"last_error,omitempty"`
	// Lines are the run's lines: the latest attempts in full, each older
	// attempt summarised in one line.
	Lines  []Line `json:"lines"`
	Result string `json:"result,omitempty"` // success | error | "" while running
	// GraceUntil is the end of the undo window while the run waits in
	// PhaseGrace, else nil.
	GraceUntil *time.Time `json:"grace_until,omitempty"`
}

// Result is TerminateWorkflow's result.
type Result struct {
	ServiceID int    `json:"service_id"`
	Outcome   string `json:"outcome"` // terminated | removed | reset:<status> | record-deleted | restored
	Attempts  int    `json:"attempts"`
}
