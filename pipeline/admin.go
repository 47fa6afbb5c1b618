package pipeline

// Admin Updates: the synchronous form of the reset-status and delete-record
// signals. The workflow validates each request (rejected with the reason
// when the run is not waiting in error_terminate or the target is not one of
// AdminTargets) and answers once it has acted. A rejection is an
// ApplicationError of type ErrNotWaiting (no run waiting, another admin
// action being applied, or a run started before admin Updates existed:
// send the signal) or ErrBadInput (the target). The signals stay for
// `temporal workflow signal` and tctl users.
const (
	UpdateResetStatus  = "admin-reset-status"  // argument: the target vm_status (string)
	UpdateDeleteRecord = "admin-delete-record" // no argument
)

// The undo window's Updates and signals (runs at versionGrace with a
// Timing.DestroyDelay): accepted only while the run waits in PhaseGrace,
// else rejected with an ApplicationError of type ErrNotInGrace.
const (
	UpdateRestore    = "admin-restore"     // start the VM again; the run ends "restored"
	UpdateDestroyNow = "admin-destroy-now" // skip the rest of the wait
	SignalRestore    = "restore"
	SignalDestroyNow = "destroy-now"
)

// AdminReply is an accepted admin Update's answer, sent once the workflow
// has acted on it.
type AdminReply struct {
	// VMStatus is the row's vm_status after the action: the target of a
	// reset, "terminate" for a re-run, "" once the record is deleted.
	VMStatus string `json:"vm_status"`
	// Attempt is the number of the attempt a reset to terminate started
	// (0 for every other action).
	Attempt int `json:"attempt,omitempty"`
	// Line is the line the workflow recorded for the action.
	Line string `json:"line"`
}
