package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// searchState is what the run's search attributes hold, so that a run on
// versionLean sends only what changes.
type searchState struct {
	phase    string
	vmStatus string
	vmid     int64
	node     string
}

// startedWith reads the search attributes the run was started (or
// continued) with: the starter sets ServiceId, VmId, ProxmoxNode and
// VmStatus.
func startedWith(ctx workflow.Context) searchState {
	sa := workflow.GetTypedSearchAttributes(ctx)
	var s searchState
	s.phase, _ = sa.GetKeyword(pipeline.SAPhase)
	s.vmStatus, _ = sa.GetKeyword(pipeline.SAVmStatus)
	s.vmid, _ = sa.GetInt64(pipeline.SAVmID)
	s.node, _ = sa.GetKeyword(pipeline.SANode)
	return s
}

// restingPhase tells whether TerminatePhase records phase (versionLean):
// the phases a run rests in for long, and its end.
func restingPhase(phase string) bool {
	return phase == pipeline.PhaseGrace || phase == pipeline.PhaseWaiting || phase == pipeline.PhaseDone
}

// phaseAndStatus returns the updates that bring TerminatePhase and
// VmStatus to the run's phase and vm_status, and records them as sent.
func (s *searchState) phaseAndStatus(phase, vmStatus string) []temporal.SearchAttributeUpdate {
	var upd []temporal.SearchAttributeUpdate
	if !restingPhase(phase) {
		phase = ""
	}
	if phase != s.phase {
		upd = append(upd, keyword(pipeline.SAPhase, phase))
		s.phase = phase
	}
	if vmStatus != s.vmStatus {
		upd = append(upd, keyword(pipeline.SAVmStatus, vmStatus))
		s.vmStatus = vmStatus
	}
	return upd
}

// target returns the updates that bring VmId and ProxmoxNode to the VM an
// attempt works on, and records them as sent.
func (s *searchState) target(vmid int, node string) []temporal.SearchAttributeUpdate {
	var upd []temporal.SearchAttributeUpdate
	if int64(vmid) != s.vmid {
		upd = append(upd, pipeline.SAVmID.ValueSet(int64(vmid)))
		s.vmid = int64(vmid)
	}
	if node != s.node {
		upd = append(upd, keyword(pipeline.SANode, node))
		s.node = node
	}
	return upd
}

// keyword sets key to v, or unsets it for "".
func keyword(key temporal.SearchAttributeKeyKeyword, v string) temporal.SearchAttributeUpdate {
	if v == "" {
		return key.ValueUnset()
	}
	return key.ValueSet(v)
}

// graceUntil sets GraceUntil to until, or unsets it for nil.
func graceUntil(until *time.Time) temporal.SearchAttributeUpdate {
	if until == nil {
		return pipeline.SAGraceUntil.ValueUnset()
	}
	return pipeline.SAGraceUntil.ValueSet(*until)
}

// setGrace moves the run to phase and vmStatus with GraceUntil set to
// until (unset for nil): one upsert on versionLean, two before.
func (r *run) setGrace(ctx workflow.Context, until *time.Time, phase, vmStatus string) {
	if r.version >= versionLean {
		r.set(ctx, phase, vmStatus, graceUntil(until))
		return
	}
	r.upsert(ctx, graceUntil(until))
	r.set(ctx, phase, vmStatus)
}
