package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// ListRow is one row of `starter list --json`. Field names are stable (README).
type ListRow struct {
	ServiceID int       `json:"service_id"`
	VMStatus  string    `json:"vm_status"`
	Phase     string    `json:"phase"`   // last phase of the last logged attempt, "" before any
	Attempt   int       `json:"attempt"` // attempts whose outcome is logged
	LastError string    `json:"last_error"`
	Updated   time.Time `json:"updated"`
	Server    string    `json:"server"`
	Node      string    `json:"node"`
	VMID      int       `json:"vmid"`
	VMName    string    `json:"vm_name"`
}

// ListJSON is `starter list --json`.
type ListJSON struct {
	Rows []ListRow `json:"rows"`
}

// list prints our VM table's rows, by vm_status then service id. It reads
// the database only.
func (s *session) list(ctx context.Context, o opts, out io.Writer) (int, error) {
	rows, err := s.store.OwnRows(ctx)
	if err != nil {
		return exitError, err
	}
	res := ListJSON{Rows: []ListRow{}}
	for _, r := range rows {
		if o.extra.vmStatus != "" && r.VMStatus != o.extra.vmStatus {
			continue
		}
		var last struct {
			Phase string `json:"phase"`
		}
		_ = json.Unmarshal([]byte(r.LastActionLog), &last)
		res.Rows = append(res.Rows, ListRow{ServiceID: r.ServiceID, VMStatus: r.VMStatus, Phase: last.Phase, Attempt: r.TerminateAttempts,
			LastError: oneLine(s.redact(r.LastError)), Updated: r.UpdatedAt.UTC(), Server: r.Server, Node: r.Node, VMID: r.VMID, VMName: r.VMName})
	}
	sort.Slice(res.Rows, func(i, j int) bool {
		a, b := res.Rows[i], res.Rows[j]
		if a.VMStatus != b.VMStatus {
			return a.VMStatus < b.VMStatus
		}
		return a.ServiceID < b.ServiceID
	})
	if o.extra.json {
		return exitOK, writeJSON(out, res)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tVM_STATUS\tPHASE\tATTEMPT\tUPDATED\tLAST ERROR")
	for _, r := range res.Rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", r.ServiceID, r.VMStatus, r.Phase, r.Attempt, r.Updated.Format("2006-01-02 15:04:05"), r.LastError)
	}
	return exitOK, tw.Flush()
}
