package activities

import (
	"context"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// BackupsInput is RemoveBackups' input.
type BackupsInput struct {
	Target pipeline.Target `json:"target"`
	Timing pipeline.Timing `json:"timing"`
	// OwnerVerified: the stop phase found our VM (identity checked) at its
	// node, so the vmid is ours and no cluster-wide owner check is needed.
	OwnerVerified bool `json:"owner_verified"`
}

// BackupsResult counts what was removed and what was left behind.
type BackupsResult struct {
	Deleted []string        `json:"deleted"`
	Left    []string        `json:"left"` // protected or failed: leftovers for an admin
	Errors  []string        `json:"errors"`
	Lines   []pipeline.Line `json:"lines"`
}

// RemoveBackups deletes every backup of the VM on every storage of its node
// that holds backups (shared storages are listed once per volid). It is
// best effort: each error is logged and the next backup continues; it
// never returns an error. Protected backups are left and reported.
func (a *Activities) RemoveBackups(ctx context.Context, in BackupsInput) (BackupsResult, error) {
	ctx, l, end := a.beginPhase(ctx, in.Target, pipeline.PhaseBackups)
	defer end()
	t, tm := in.Target, in.Timing.WithDefaults()
	res := BackupsResult{Deleted: []string{}, Left: []string{}, Errors: []string{}}
	fail := func(format string, args ...any) {
		l.add(format, args...)
		res.Errors = append(res.Errors, l.list[len(l.list)-1].Text)
	}
	l.add("removing backups")
	c, err := a.client(t.Server)
	if err != nil {
		fail("backups: %v", err)
		res.Lines = l.list
		return res, nil
	}
	// Backups are found by vmid alone. Unless the stop phase has just seen
	// our VM at its place, ask the cluster who owns the vmid: if another VM
	// does (ours is gone and the id was reused), the backups are not ours.
	if !in.OwnerVerified {
		vm, found, err := c.FindVM(ctx, t.VMID)
		if err != nil {
			fail("backups: cannot check who owns vmid %d: %v", t.VMID, err)
			res.Lines = l.list
			return res, nil
		}
		if found && (vm.Node != t.Node || (t.VMName != "" && !SameVMName(vm.Name, t.VMName))) {
			fail("backups: vmid %d now belongs to VM %q on node %s, not to this service's VM %q on %s: leaving every backup of vmid %d alone",
				t.VMID, vm.Name, vm.Node, t.VMName, t.Node, t.VMID)
			res.Lines = l.list
			return res, nil
		}
	}
	backups, listErrs, err := c.VMBackups(ctx, t.Node, t.VMID)
	if err != nil {
		fail("backups: cannot list storages of %s: %v", t.Node, err)
		res.Lines = l.list
		return res, nil
	}
	for _, e := range listErrs {
		fail("backups: cannot list %v", e)
	}
	for _, b := range backups {
		if b.Protected {
			l.add("backup kept (protected): %s", b.VolID)
			res.Left = append(res.Left, b.VolID)
			continue
		}
		upid, err := c.DeleteVolume(ctx, t.Node, b.Storage, b.VolID)
		if err == nil && upid != "" {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			_, err = c.WaitTask(wctx, t.Node, upid, min(tm.TaskPoll, 500*time.Millisecond), nil)
			cancel()
		}
		if err != nil {
			fail("backup delete FAIL %s: %v", b.VolID, err)
			res.Left = append(res.Left, b.VolID)
			continue
		}
		l.add("backup deleted: %s", b.VolID)
		res.Deleted = append(res.Deleted, b.VolID)
		heartbeat(ctx, Progress{Lines: l.list})
	}
	metrics(ctx).Counter("terminate_backup_leftovers_total").Inc(int64(len(res.Left)))
	if len(res.Left) == 0 {
		l.add("backups removed (%d deleted)", len(res.Deleted))
	} else {
		l.add("backups removed (%d deleted, %d left)", len(res.Deleted), len(res.Left))
	}
	res.Lines = l.list
	return res, nil
}
