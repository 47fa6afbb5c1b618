package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// restore is `starter restore`: during the undo window it checks the VM's
// identity and sends admin-restore; the run starts the VM, puts vm_status
// back and ends "restored". Outside the window the run (or, with no open
// run, the starter) refuses with the reason; nothing is written.
func (s *session) restore(ctx context.Context, o opts, out io.Writer) (int, error) {
	// LoadService, not the click's loadForClick: a refused restore writes
	// nothing, not even a foreign source's identity snapshot (a run in its
	// undo window has one since its click).
	svc, rs, err := s.loadAndDescribe(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	if !rs.running {
		return exitError, fmt.Errorf("service %d: no termination run is open (vm_status=%s): restore applies only during the undo window (phase grace)", o.serviceID, svc.VM.VMStatus)
	}
	if rs.phase == pipeline.PhaseGrace {
		// As the click does: never for a VM that is not the one the record
		// describes. The run's StartVM checks again.
		client, err := s.pveClient(o.serviceID, svc.VM.Server)
		if err != nil {
			return exitError, err
		}
		if err := s.checkIdentity(ctx, client, svc); err != nil {
			return exitError, err
		}
	}
	// Outside the window the run's validator refuses with the reason (no
	// undo window, not begun, ended at ...), writing nothing.
	if _, err := s.answer(ctx, out, o.serviceID, pipeline.UpdateRestore); err != nil {
		return exitError, err
	}
	return exitOK, nil
}

// destroyNow is `starter terminate --now`: it ends the run's undo window
// and the termination goes on at once. It never starts a run.
func (s *session) destroyNow(ctx context.Context, o opts, out io.Writer) (int, error) {
	rs, err := s.describe(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	if !rs.running {
		return exitError, fmt.Errorf("service %d: no termination run is open: --now applies only to a run in its undo window (phase grace)", o.serviceID)
	}
	if _, err := s.answer(ctx, out, o.serviceID, pipeline.UpdateDestroyNow); err != nil {
		return exitError, err
	}
	return s.maybeFollow(o, out, 0)
}

// graceDeadlines fills GraceUntil of the rows in vm_status grace from their
// runs' search attributes. The list reads the database; a Temporal that
// does not answer leaves the deadlines out.
func (s *session) graceDeadlines(ctx context.Context, rows []ListRow) {
	for i := range rows {
		if rows[i].VMStatus != dbmodel.StatusGrace {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rs, err := s.describe(dctx, rows[i].ServiceID)
		cancel()
		if err != nil {
			return
		}
		if rs.running && rs.graceUntil != nil {
			u := rs.graceUntil.UTC()
			rows[i].GraceUntil = &u
		}
	}
}
