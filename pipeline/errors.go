package pipeline

// Temporal application-error types raised by activities and workflows. A
// failed activity's or run's ApplicationError.Type() is one of these, or one
// of pve's failure classes (pve.Class*: the Proxmox reason of a DELETE or a
// stop, e.g. "running", "protected", "lock_timeout"). Tests, retry policies
// and the workflow compare against these names only.
const (
	// ErrBadInput: an input no retry can fix (a non-positive service id, an
	// unknown admin target).
	ErrBadInput = "bad_input"
	// ErrNotFound: the service or its VM row does not exist.
	ErrNotFound = "not_found"
	// ErrAlreadyRemoved: the VM row is already 'remove'.
	ErrAlreadyRemoved = "already_removed"
	// ErrRefused: the row cannot be acted on (no vmid/node/server, or a
	// server that is not configured); the attempt ends in error_terminate.
	ErrRefused = "refused"
	// ErrConfig: the worker's configuration lacks what the call needs.
	ErrConfig = "config"
	// ErrIdentityMismatch: the VM at (node, vmid) is not the one the record
	// describes. The attempt ends in error_terminate at once: nothing else is
	// touched on Proxmox, in DNS or in the database.
	ErrIdentityMismatch = "identity_mismatch"
	// ErrMoved: the node no longer has the vmid but the cluster lists it on
	// another node: never guessed at.
	ErrMoved = "moved"
	// ErrStillListed: the destroy task ended but the cluster still lists the
	// vmid (retried).
	ErrStillListed = "still_listed"
)

// ErrRowGone: the service's VM row (or its tblhosting row) vanished while
// the run held it (deleted by hand or by another tool). No retry can bring
// it back, so the database activities fail with this type at once and the
// workflow ends the run in a documented state instead of retrying forever.
const ErrRowGone = "row_gone"

// ErrNotWaiting: an admin Update sent to a run that is not waiting in
// error_terminate (an attempt is running, another admin action is being
// applied, or the run predates admin Updates: send the signal instead).
const ErrNotWaiting = "not_waiting"

// ErrNotInGrace: a restore or a destroy-now sent to a run that is not in
// its undo window (before the stop phase ended, after the deadline, or a
// run started without timing.destroy_delay).
const ErrNotInGrace = "not_in_grace"

// ErrRestoreFailed: Proxmox did not start the VM of a restore (or the VM is
// not the one the record describes); the run stays in its undo window.
const ErrRestoreFailed = "restore_failed"
