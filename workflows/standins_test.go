package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// standIns answer like the real activities would for each scenario's
// service id.
type standIns struct {
	mu    sync.Mutex
	calls map[string]int
}

const (
	svcSuccess  = 901
	svcRetry    = 902
	svcRefusal  = 903
	svcIdentity = 904
	svcTimeout  = 905
	svcRefused  = 906
	svcLong     = 907
	svcGrace    = 908 // versionGrace: an undo window that runs out, then the termination
	svcRestore  = 909 // versionGrace: restored during the undo window
)

func (s *standIns) count(id int, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := name + ":" + string(rune('0'+id%10))
	s.calls[k]++
	return s.calls[k]
}

func now(text string) []pipeline.Line { return []pipeline.Line{{At: time.Now().UTC(), Text: text}} }

func (s *standIns) LoadTarget(_ context.Context, id int) (activities.LoadResult, error) {
	n := s.count(id, "load")
	tg := pipeline.Target{ServiceID: id, UserID: 7, Server: "pve", Node: "pve1", VMID: 2000 + id, VMName: "vm", Domain: "vm.example.com", IPs: []string{"192.0.2.10"}, VMStatus: "terminate", Attempt: n}
	res := activities.LoadResult{Target: tg, Lines: now("[terminate] starting")}
	if id == svcRefusal {
		res.Refusal = `proxmox server "gone" of the VM row is not configured`
	}
	return res, nil
}

func (s *standIns) StopVM(_ context.Context, in activities.StopInput) (activities.StopResult, error) {
	if in.Target.ServiceID == svcIdentity {
		return activities.StopResult{}, temporal.NewNonRetryableApplicationError(`identity mismatch at pve1/2904: the record describes name "vm", Proxmox has name "other"; touching nothing`, pipeline.ErrIdentityMismatch, nil)
	}
	if in.Target.ServiceID == svcRefused {
		return activities.StopResult{Stopped: false, ShutdownUPID: "UPID:pve1:1", Lines: now("still running")}, nil
	}
	return activities.StopResult{Stopped: true, Lines: now("stopped after ~1s")}, nil
}

func (s *standIns) ForceStopVM(_ context.Context, in activities.StopInput) (activities.StopResult, error) {
	return activities.StopResult{Stopped: false, Lines: now("still running after the hard stop")}, nil
}

func (s *standIns) CheckDeletable(_ context.Context, t pipeline.Target) (activities.DeletableResult, error) {
	if t.ServiceID == svcRefused {
		msg := "VM 2906 is running - destroy failed"
		return activities.DeletableResult{Refusal: msg, Class: pve.ClassRunning, Lines: now("Proxmox will refuse the DELETE: " + msg)}, nil
	}
	return activities.DeletableResult{}, nil
}

func (s *standIns) RemoveBackups(_ context.Context, _ activities.BackupsInput) (activities.BackupsResult, error) {
	return activities.BackupsResult{Lines: now("backups removed (0 deleted)")}, nil
}

func (s *standIns) DeleteDNS(_ context.Context, _ pipeline.Target) (activities.DNSResult, error) {
	return activities.DNSResult{Lines: now("deleting DNS records")}, nil
}

func (s *standIns) DeleteVM(ctx context.Context, in activities.VMInput) (activities.DeleteResult, error) {
	n := s.count(in.Target.ServiceID, "delete")
	switch {
	case in.Target.ServiceID == svcRetry && n == 1:
		return activities.DeleteResult{}, temporal.NewNonRetryableApplicationError("VM 2902 is running - destroy failed", pve.ClassRunning, nil)
	case in.Target.ServiceID == svcLong:
		return activities.DeleteResult{}, temporal.NewNonRetryableApplicationError("can't remove VM 2907 - protection mode enabled", pve.ClassProtected, nil)
	case in.Target.ServiceID == svcTimeout && n == 1:
		<-ctx.Done() // a lost worker: no heartbeat until the heartbeat timeout
		return activities.DeleteResult{}, ctx.Err()
	}
	return activities.DeleteResult{Lines: now("VM deleted")}, nil
}

func (s *standIns) CleanDB(_ context.Context, _ activities.FinishInput) (activities.FinishResult, error) {
	return activities.FinishResult{Written: true, Lines: now("[terminate] done result=success")}, nil
}

func (s *standIns) RecordFailure(_ context.Context, _ activities.FinishInput) (activities.FinishResult, error) {
	return activities.FinishResult{Written: true, Lines: now("[terminate] done result=error")}, nil
}

func (s *standIns) SetVMStatus(_ context.Context, in activities.AdminInput) (activities.AdminResult, error) {
	return activities.AdminResult{Lines: now("admin: vm_status set to " + in.Status)}, nil
}

func (s *standIns) DeleteVMRecord(_ context.Context, _ activities.AdminInput) (activities.AdminResult, error) {
	return activities.AdminResult{Lines: now("admin: VM record deleted")}, nil
}

func (s *standIns) EnterGrace(_ context.Context, _ activities.GraceInput) (activities.GraceResult, error) {
	return activities.GraceResult{Lines: now("undo window: VM stopped")}, nil
}

func (s *standIns) LeaveGrace(_ context.Context, _ activities.GraceInput) (activities.GraceResult, error) {
	return activities.GraceResult{Lines: now("undo window over: vm_status=terminate, destroying")}, nil
}

func (s *standIns) StartVM(_ context.Context, _ activities.VMInput) (activities.StartResult, error) {
	return activities.StartResult{Lines: now("restore: VM running again")}, nil
}

func (s *standIns) RecordRestore(_ context.Context, in activities.GraceInput) (activities.GraceResult, error) {
	return activities.GraceResult{Lines: now("restored: vm_status=" + in.To)}, nil
}

// startRun starts service id's run on queue as the starter does: with its
// search attributes (ServiceId, VmId, ProxmoxNode, VmStatus; the stand-ins'
// LoadTarget answers vmid 2000+id on pve1).
func startRun(ctx context.Context, c client.Client, queue string, id int, tm pipeline.Timing) (client.WorkflowRun, error) {
	return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: pipeline.WorkflowID(id), TaskQueue: queue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			pipeline.SAServiceID.ValueSet(int64(id)), pipeline.SAVmID.ValueSet(int64(2000+id)),
			pipeline.SANode.ValueSet("pve1"), pipeline.SAVmStatus.ValueSet("terminate")),
	}, pipeline.WorkflowName, pipeline.Input{ServiceID: id, Timing: tm, RestoreTo: "ready"})
}

// standInWorker runs the workflow and the stand-ins on a fresh queue of
// the shared dev server.
func standInWorker(t *testing.T, queue string) client.Client {
	c := testenv.DevServer(t).Client()
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(TerminateWorkflow, workflow.RegisterOptions{Name: pipeline.WorkflowName})
	w.RegisterActivityWithOptions(&standIns{calls: map[string]int{}}, activity.RegisterOptions{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c
}
