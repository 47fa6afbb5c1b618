package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// maxListLimit bounds one page of `starter list`.
const maxListLimit = 1000

// ListRow is one row of `starter list --json`. Field names are stable (README).
type ListRow struct {
	ServiceID  int       `json:"service_id"`
	VMStatus   string    `json:"vm_status"`
	Phase      string    `json:"phase"`   // last phase of the last logged attempt, "" before any
	Attempt    int       `json:"attempt"` // attempts whose outcome is logged
	LastError  string    `json:"last_error"`
	Updated    time.Time `json:"updated"`
	Server     string    `json:"server"`
	Node       string    `json:"node"`
	VMID       int       `json:"vmid"`
	VMName     string    `json:"vm_name"`
	Domain     string    `json:"domain"`      // tblhosting.domain, "" when the service is gone
	WorkflowID string    `json:"workflow_id"` // the service's TerminateWorkflow id
	// GraceUntil is the end of the undo window of a row in vm_status grace
	// (its run's GraceUntil search attribute; absent when Temporal does not answer).
	GraceUntil *time.Time `json:"grace_until,omitempty"`
}

// ListJSON is `starter list --json`: a page of rows and how many match in all.
type ListJSON struct {
	Rows   []ListRow `json:"rows"`
	Total  int64     `json:"total"`
	Limit  int       `json:"limit"` // 0: no limit
	Offset int       `json:"offset"`
}

// list prints our VM table's rows, by vm_status then service id. It reads
// the database only.
func (s *session) list(ctx context.Context, o opts, out io.Writer) (int, error) {
	f := dbmodel.ListFilter{VMStatus: o.extra.vmStatus, Search: o.extra.search, Limit: o.extra.limit, Offset: o.extra.offset}
	rows, total, err := s.store.ListPage(ctx, f)
	if err != nil {
		return exitError, err
	}
	res := ListJSON{Rows: make([]ListRow, 0, len(rows)), Total: total, Limit: f.Limit, Offset: f.Offset}
	for _, r := range rows {
		var last struct {
			Phase string `json:"phase"`
		}
		_ = json.Unmarshal([]byte(r.LastActionLog), &last)
		res.Rows = append(res.Rows, ListRow{ServiceID: r.ServiceID, VMStatus: r.VMStatus, Phase: last.Phase, Attempt: r.TerminateAttempts,
			LastError: oneLine(s.redact(r.LastError)), Updated: r.UpdatedAt.UTC(), Server: r.Server, Node: r.Node, VMID: r.VMID,
			VMName: r.VMName, Domain: r.Domain, WorkflowID: pipeline.WorkflowID(r.ServiceID)})
	}
	s.graceDeadlines(ctx, res.Rows)
	if o.extra.json {
		return exitOK, writeJSON(out, res)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tVM_STATUS\tPHASE\tATTEMPT\tUPDATED\tLAST ERROR")
	for _, r := range res.Rows {
		vmStatus := r.VMStatus
		if r.GraceUntil != nil {
			vmStatus += " until " + r.GraceUntil.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", r.ServiceID, vmStatus, r.Phase, r.Attempt, r.Updated.Format("2006-01-02 15:04:05"), r.LastError)
	}
	if int64(len(res.Rows)) < total {
		fmt.Fprintf(tw, "(%d of %d rows)\n", len(res.Rows), total)
	}
	return exitOK, tw.Flush()
}
