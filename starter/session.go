package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

type session struct {
	cfg    *config.Config
	store  *dbmodel.Store
	ml     activities.ModuleLog // redaction and the module log
	tc     client.Client        // set by the dial started in newSession
	tcErr  error
	dialed chan struct{} // closed when the dial has finished
}

func newSession(ctx context.Context, path string) (*session, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, dialed: make(chan struct{})}
	// Every command talks to Temporal: connect while the database answers
	// (the click's latency is what an admin feels).
	go func() {
		defer close(s.dialed)
		s.tc, s.tcErr = client.DialContext(ctx, client.Options{
			HostPort: cfg.Temporal.Address, Namespace: cfg.Temporal.Namespace, Logger: quietLogger{},
			ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}},
		})
	}()
	store, err := dbmodel.OpenContext(ctx, cfg.Database) // a database that never answers ends with the deadline
	if err == nil {
		if err = store.CheckSchema(ctx); err != nil { // our tables at this binary's version, or one line naming `worker migrate`
			store.Close()
		}
	}
	if err != nil {
		s.close()
		return nil, err
	}
	s.store, s.ml = store, activities.ModuleLog{Store: store, Secrets: cfg.Secrets()}
	return s, nil
}

func (s *session) close() {
	select {
	case <-s.dialed:
		if s.tc != nil {
			s.tc.Close()
		}
	default: // still dialing (an unreachable Temporal): the process is ending anyway
	}
	if s.store != nil {
		s.store.Close()
	}
}

func (s *session) redact(msg string) string { return s.ml.Secrets.Redact(msg) }

func (s *session) temporal(ctx context.Context) (client.Client, error) {
	select {
	case <-s.dialed:
	case <-ctx.Done():
		return nil, fmt.Errorf("temporal at %s is unreachable: %v", s.cfg.Temporal.Address, ctx.Err())
	}
	if s.tcErr != nil {
		return nil, fmt.Errorf("temporal at %s is unreachable: %v", s.cfg.Temporal.Address, s.tcErr)
	}
	return s.tc, nil
}

func (s *session) dispatch(ctx context.Context, o opts, out io.Writer) (int, error) {
	c, ok := commands[o.cmd]
	if !ok {
		return exitUsage, fmt.Errorf("unknown command %q", o.cmd)
	}
	run := c.text
	if o.extra.json {
		run = c.json
	}
	if run == nil {
		return exitUsage, fmt.Errorf("--json is not for %s", o.cmd)
	}
	return run(s, ctx, o, out)
}

// runState describes the service's workflow execution, if any.
type runState struct {
	exists     bool
	running    bool
	phase      string     // the run's TerminatePhase search attribute
	graceUntil *time.Time // its GraceUntil search attribute (the undo window's end), if set
}

// describe reads the run from Temporal alone (no query: it needs no worker).
func (s *session) describe(ctx context.Context, serviceID int) (runState, error) {
	c, err := s.temporal(ctx)
	if err != nil {
		return runState{}, err
	}
	d, err := c.DescribeWorkflow(ctx, pipeline.WorkflowID(serviceID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return runState{}, nil
	}
	if err != nil {
		return runState{}, fmt.Errorf("temporal: %v", err)
	}
	rs := runState{exists: true, running: d.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}
	rs.phase, _ = d.TypedSearchAttributes.GetKeyword(pipeline.SAPhase)
	if until, ok := d.TypedSearchAttributes.GetTime(pipeline.SAGraceUntil); ok {
		rs.graceUntil = &until
	}
	return rs, nil
}

// describeAsync starts describe at once and returns the wait for its
// answer: Temporal answers while the database does. The caller checks
// what the database says first, so an error of its own comes before
// Temporal's; describe only reads.
func (s *session) describeAsync(ctx context.Context, serviceID int) func() (runState, error) {
	type described struct {
		rs  runState
		err error
	}
	ch := make(chan described, 1)
	go func() {
		rs, err := s.describe(ctx, serviceID)
		ch <- described{rs, err}
	}()
	return func() (runState, error) {
		d := <-ch
		return d.rs, d.err
	}
}

// loadAndDescribe reads the service and its VM row, then its run, for the
// admin commands (nothing is written).
func (s *session) loadAndDescribe(ctx context.Context, serviceID int) (dbmodel.Service, runState, error) {
	svc, err := s.store.LoadService(ctx, serviceID)
	if err != nil {
		return svc, runState{}, err
	}
	rs, err := s.describe(ctx, serviceID)
	return svc, rs, err
}

func (s *session) query(ctx context.Context, serviceID int) (pipeline.Status, error) {
	var st pipeline.Status
	c, err := s.temporal(ctx)
	if err != nil {
		return st, err
	}
	v, err := c.QueryWorkflow(ctx, pipeline.WorkflowID(serviceID), "", pipeline.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("status query: %v", err)
	}
	return st, v.Get(&st)
}

func (s *session) terminate(ctx context.Context, o opts, out io.Writer) (int, error) {
	if o.now {
		return s.destroyNow(ctx, o, out) // grace.go
	}
	described := s.describeAsync(ctx, o.serviceID)
	svc, err := s.loadForClick(ctx, o.serviceID) // a foreign source: the identity snapshot (snapshot.go)
	if err != nil {
		return exitError, err
	}
	if svc.VM.VMStatus == dbmodel.StatusRemove {
		return exitError, fmt.Errorf("service %d is already removed (vm_status=remove)", o.serviceID)
	}
	if svc.VM.VMID <= 0 || svc.VM.Node == "" {
		return exitError, fmt.Errorf("service %d: VM row has no vmid/node", o.serviceID)
	}
	client, err := s.pveClient(o.serviceID, svc.VM.Server)
	if err != nil {
		return exitError, err
	}
	rs, err := described()
	if err != nil {
		return exitError, err
	}
	if rs.waitingForAdmin() {
		// The admin asks again: re-queue the termination in the waiting run,
		// as `reset --to terminate` does (the workflow runs its guards).
		if err := s.checkIdentity(ctx, client, svc); err != nil {
			return exitError, err
		}
		reply, err := s.answer(ctx, out, o.serviceID, pipeline.UpdateResetStatus, dbmodel.StatusTerminate)
		if err != nil {
			return exitError, err
		}
		return s.maybeFollow(o, out, reply.Attempt)
	}
	if rs.running {
		// A second click attaches to the run in progress; it never starts another.
		fmt.Fprintln(out, "success")
		return s.maybeFollow(o, out, 0)
	}

	// Never for a VM that is not the one the record describes (a reused
	// vmid), nor with credentials Proxmox refuses.
	if err := s.checkIdentity(ctx, client, svc); err != nil {
		return exitError, err
	}

	prev := svc.VM.VMStatus
	if err := s.store.SetStatus(ctx, o.serviceID, dbmodel.StatusTerminate); err != nil {
		return exitError, err
	}
	started, err := s.start(ctx, o.serviceID, svc.VM, prev)
	if err != nil {
		// Put the row back as it was: a row in 'terminate' with no run would
		// look queued while nothing is running.
		if rerr := s.store.SetStatus(context.WithoutCancel(ctx), o.serviceID, prev); rerr != nil {
			return exitError, fmt.Errorf("%v (and restoring vm_status=%s failed: %v)", err, prev, rerr)
		}
		return exitError, err
	}
	// Fire-and-forget graceful shutdown, once the run exists (a click that
	// fails must leave the VM alone), and only from the call that started
	// it: a click that lost the race to another click (or to the re-queue
	// schedule) attaches like a second click. The customer's VM starts going
	// down now; the workflow's stop phase polls it.
	if started {
		s.fireShutdown(ctx, client, svc)
	}
	fmt.Fprintln(out, "success")
	return s.maybeFollow(o, out, 0)
}

func (s *session) shutdownTimeout() time.Duration {
	if v, err := time.ParseDuration(s.cfg.Starter.ShutdownTimeout); err == nil && v > 0 {
		return v
	}
	return 3 * time.Second
}

// pveClient is the client of the configured Proxmox server a service's VM
// is on, its calls in the module log. No other server's client is built.
func (s *session) pveClient(serviceID int, server string) (*pve.Client, error) {
	for _, pc := range s.cfg.Proxmox {
		if pc.Name == server {
			return pve.New(pc, s.ml.PVEObserver())
		}
	}
	return nil, fmt.Errorf("service %d: proxmox server %q is not configured", serviceID, server)
}

// checkIdentity refuses a VM that is not the one the record describes, and
// a click whose Proxmox credentials or request Proxmox refuses (401, 403,
// any answer but the two below). A node that cannot be reached and a VM
// already gone are the workflow's to handle: its phases check again.
func (s *session) checkIdentity(ctx context.Context, c *pve.Client, svc dbmodel.Service) error {
	sctx, cancel := context.WithTimeout(ctx, s.shutdownTimeout())
	defer cancel()
	cfg, err := c.VMConfig(sctx, svc.VM.Node, svc.VM.VMID)
	if err != nil {
		if !refusedAtClick(err) {
			return nil
		}
		if pve.ClassOf(err) == pve.ClassAuth {
			return fmt.Errorf("service %d: proxmox server %q refused the API token (check token_id, token_secret and the token's privileges): %v", svc.Hosting.ID, svc.VM.Server, err)
		}
		return fmt.Errorf("service %d: proxmox server %q refused to show VM %d: %v", svc.Hosting.ID, svc.VM.Server, svc.VM.VMID, err)
	}
	t := pipeline.Target{Node: svc.VM.Node, VMID: svc.VM.VMID, VMName: svc.VM.VMName, VMUUID: svc.VM.VMUUID}
	if msg := activities.IdentityMismatch(t, cfg); msg != "" {
		return fmt.Errorf("service %d: %s", svc.Hosting.ID, msg)
	}
	return nil
}

// refusedAtClick reports whether a failed read of the VM must refuse the
// click. Everything is refused but a node that cannot be reached now (no
// answer, 595/596/599, a gateway error) and a VM whose config is gone.
func refusedAtClick(err error) bool {
	return !pve.IsTransient(err) && !pve.IsMissingVM(err)
}

// fireShutdown sends one graceful shutdown without waiting for it. Any
// failure is the workflow's to handle (its stop phase sends its own and
// polls); the module log has the call.
func (s *session) fireShutdown(ctx context.Context, c *pve.Client, svc dbmodel.Service) {
	sctx, cancel := context.WithTimeout(ctx, s.shutdownTimeout())
	defer cancel()
	_, _ = c.Shutdown(sctx, svc.VM.Node, svc.VM.VMID, int(s.cfg.Timing.StopWindow/time.Second))
}

// start starts the service's run. started is false when a run was already
// open (another click or the re-queue schedule got there first): the caller
// then attaches to it and must not act as the one that started it.
//
// restoreTo is the row's vm_status before the click: a restore during the
// undo window puts it back.
func (s *session) start(ctx context.Context, serviceID int, vm dbmodel.VMInfo, restoreTo string) (started bool, err error) {
	c, err := s.temporal(ctx)
	if err != nil {
		return false, err
	}
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       pipeline.WorkflowID(serviceID),
		TaskQueue:                                s.cfg.Temporal.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			pipeline.SAServiceID.ValueSet(int64(serviceID)), pipeline.SAVmID.ValueSet(int64(vm.VMID)),
			pipeline.SANode.ValueSet(vm.Node), pipeline.SAVmStatus.ValueSet(dbmodel.StatusTerminate)),
	}, pipeline.WorkflowName, pipeline.Input{ServiceID: serviceID, Timing: s.cfg.Timing, RestoreTo: restoreTo})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return false, nil
	}
	if err != nil && s.runOpenAfter(ctx, serviceID) {
		// The request may have reached the server without its answer
		// reaching us (a deadline, a server restarting): the run exists
		// and works, so this call attaches to it instead of refusing.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("start workflow: %v", err)
	}
	return true, nil
}

// runOpenAfter tells, after a start that failed, whether a run of the
// service is open anyway; it asks once, past the call's deadline, briefly.
func (s *session) runOpenAfter(ctx context.Context, serviceID int) bool {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rs, err := s.describe(dctx, serviceID)
	return err == nil && rs.running
}

// maybeFollow follows the run with --follow; minAttempt is the attempt a
// re-queue started (0: any), so the wait it left is not taken for the end.
func (s *session) maybeFollow(o opts, out io.Writer, minAttempt int) (int, error) {
	if !o.follow {
		return exitOK, nil
	}
	return s.follow(context.Background(), o.serviceID, minAttempt, out)
}

func (s *session) status(ctx context.Context, o opts, out io.Writer) (int, error) {
	rs, err := s.describe(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	if !rs.exists {
		svc, err := s.store.LoadService(ctx, o.serviceID)
		if err != nil {
			return exitError, err
		}
		fmt.Fprintf(out, "service %d: no termination run; vm_status=%s\n", o.serviceID, svc.VM.VMStatus)
		return exitOK, nil
	}
	if o.follow {
		return s.follow(context.Background(), o.serviceID, 0, out)
	}
	st, err := s.query(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	fmt.Fprintf(out, "service %d: phase=%s vm_status=%s attempt=%d running=%t\n", o.serviceID, st.Phase, st.VMStatus, st.Attempt, rs.running)
	if st.GraceUntil != nil {
		fmt.Fprintf(out, "undo window until %s: `starter restore --service-id %d` starts the VM again, `starter terminate --now --service-id %d` destroys it now\n",
			st.GraceUntil.UTC().Format(time.RFC3339), o.serviceID, o.serviceID)
	}
	if st.LastError != "" {
		fmt.Fprintf(out, "last error: %s\n", st.LastError)
	}
	for _, l := range st.Lines {
		fmt.Fprintln(out, l.Format(o.serviceID))
	}
	return exitOK, nil
}

// waitingForAdmin reports whether a run waits in error_terminate.
func (rs runState) waitingForAdmin() bool {
	return rs.running && rs.phase == pipeline.PhaseWaiting
}

func (s *session) reset(ctx context.Context, o opts, out io.Writer) (int, error) {
	if !slices.Contains(dbmodel.AdminTargets, o.to) {
		return exitUsage, fmt.Errorf("--to %q is not one of %s", o.to, strings.Join(dbmodel.AdminTargets, ", "))
	}
	svc, rs, err := s.loadAndDescribe(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	switch {
	case rs.running:
		// The run decides: its validator accepts a run waiting in
		// error_terminate only, and it answers once it has acted.
		if _, err := s.answer(ctx, out, o.serviceID, pipeline.UpdateResetStatus, o.to); err != nil {
			return exitError, err
		}
		return exitOK, nil
	case svc.VM.VMStatus != dbmodel.StatusErrorTerminate:
		return exitError, fmt.Errorf("service %d: vm_status is %q; reset applies only to error_terminate", o.serviceID, svc.VM.VMStatus)
	case o.to == dbmodel.StatusTerminate:
		// No run waits (it was terminated from the Web UI, say): re-queue with a new run.
		if err := s.store.SetStatus(ctx, o.serviceID, dbmodel.StatusTerminate); err != nil {
			return exitError, err
		}
		if _, err := s.start(ctx, o.serviceID, svc.VM, svc.VM.VMStatus); err != nil {
			_ = s.store.SetStatus(context.WithoutCancel(ctx), o.serviceID, svc.VM.VMStatus)
			return exitError, err
		}
	default:
		if err := s.store.SetStatus(ctx, o.serviceID, o.to); err != nil {
			return exitError, err
		}
	}
	fmt.Fprintln(out, "success")
	return exitOK, nil
}

func (s *session) deleteRecord(ctx context.Context, o opts, out io.Writer) (int, error) {
	svc, rs, err := s.loadAndDescribe(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	switch {
	case rs.running:
		if _, err := s.answer(ctx, out, o.serviceID, pipeline.UpdateDeleteRecord); err != nil {
			return exitError, err
		}
		return exitOK, nil
	case svc.VM.VMStatus == dbmodel.StatusErrorTerminate || svc.VM.VMStatus == dbmodel.StatusRemove:
		if err := s.store.DeleteRecord(ctx, o.serviceID); err != nil {
			return exitError, err
		}
	default:
		return exitError, fmt.Errorf("service %d: vm_status is %q; delete-record applies only to error_terminate or remove", o.serviceID, svc.VM.VMStatus)
	}
	fmt.Fprintln(out, "success")
	return exitOK, nil
}
