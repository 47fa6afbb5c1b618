package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// update sends an admin Update (pipeline.UpdateResetStatus,
// UpdateDeleteRecord, UpdateRestore or UpdateDestroyNow) to the service's
// run and waits until the run has acted on it. A request the run's validator rejects comes back as an error with
// the run's reason; nothing was changed then.
func (s *session) update(ctx context.Context, serviceID int, name string, args ...any) (pipeline.AdminReply, error) {
	var reply pipeline.AdminReply
	c, err := s.temporal(ctx)
	if err != nil {
		return reply, err
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   pipeline.WorkflowID(serviceID),
		UpdateName:   name,
		Args:         args,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &reply)
	}
	if err != nil {
		return reply, updateError(serviceID, name, err)
	}
	return reply, nil
}

// answer sends an admin Update as update does and, once the run has acted
// on it, prints "success" and the run's reply.
func (s *session) answer(ctx context.Context, out io.Writer, serviceID int, name string, args ...any) (pipeline.AdminReply, error) {
	reply, err := s.update(ctx, serviceID, name, args...)
	if err != nil {
		return reply, err
	}
	fmt.Fprintln(out, "success")
	fmt.Fprintln(out, formatReply(reply))
	return reply, nil
}

// updateError is the one line an Update's failure prints.
func updateError(serviceID int, name string, err error) error {
	var app *temporal.ApplicationError
	var timeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &app):
		return fmt.Errorf("service %d: the run rejected %s: %s", serviceID, name, app.Message())
	case errors.As(err, &timeout):
		return fmt.Errorf("service %d: %s sent, but the run did not answer before the deadline; check `starter status --service-id %d`", serviceID, name, serviceID)
	case errors.As(err, &nf):
		return fmt.Errorf("service %d: the run ended before it could act on %s", serviceID, name)
	}
	return fmt.Errorf("service %d: %s: %v", serviceID, name, err)
}

// formatReply is the line printed after "success" for an accepted Update.
func formatReply(r pipeline.AdminReply) string {
	vm := r.VMStatus
	if vm == "" {
		vm = "(record deleted)"
	}
	line := "vm_status=" + vm
	if r.Attempt > 0 {
		line += fmt.Sprintf(" attempt=%d", r.Attempt)
	}
	if r.Line != "" {
		line += ": " + r.Line
	}
	return line
}
