package workflows

import "go.temporal.io/sdk/workflow"

// Workflow versions. Runs wait in error_terminate for weeks, so a run
// started on older code replays and goes on with that code: every change
// checks the run's version, read once at the start of the run.
const (
	// versionChange names the marker TerminateWorkflow records first.
	versionChange = "terminate-pipeline"

	// versionOriginal: no deletability check, reset-status decoded as a
	// string (an undecodable payload was dropped), no admin Updates, no
	// continue-as-new, every line kept.
	versionOriginal = workflow.DefaultVersion
	// versionChecked: CheckDeletable before backups and DNS; a vanished VM
	// row ends the run in a documented state; every reset-status payload
	// is decoded by the workflow (an undecodable one is rejected with a
	// line); admin Updates; continue-as-new while waiting; bounded lines.
	versionChecked workflow.Version = 1
	// versionGrace: the undo window. With Timing.DestroyDelay > 0 the run's
	// first attempt waits in PhaseGrace (vm_status 'grace') after the
	// deletability check, before backups and DNS, until the delay ends, an
	// admin skips the rest (admin-destroy-now) or restores the VM
	// (admin-restore: the run ends "restored"); after the wait the check
	// runs again. A delay of 0 runs exactly as versionChecked.
	versionGrace workflow.Version = 2
	// versionLean: a shorter history for the same behaviour. The short
	// steps (LoadTarget, CheckDeletable, DeleteDNS, CleanDB, RecordFailure,
	// the admin and undo-window database steps) run as local activities
	// (one marker event each); the search attributes change only where the
	// run rests: TerminatePhase is set in grace, waiting-for-admin and done
	// and unset while the run works (the status query has the live phase),
	// VmStatus follows vm_status, VmId and ProxmoxNode are written only
	// when they differ from what the run was started with, and a phase
	// change goes out with its vm_status (and GraceUntil) as one upsert.
	versionLean workflow.Version = 3

	// versionLatest is the version new runs take.
	versionLatest = versionLean
)
