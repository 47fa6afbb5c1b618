package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// --json of plan, status and list: one document with the stable field
// names the README lists, before and after a termination.
func TestJSONOutputs(t *testing.T) {
	dev := testenv.DevServer(t)
	store, dbcfg := testenv.NewDatabase(t)
	st, err := stack.Start(stack.Options{Dir: t.TempDir(), DB: dbcfg, TemporalHost: dev.FrontendHostPort(),
		TaskQueue: fmt.Sprintf("json-%d", time.Now().UnixNano()), Fixture: stack.Cluster(), Client: dev.Client(), WorkerOut: &bytes.Buffer{}})
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	id := int(time.Now().UnixNano()%100000) + 700000
	name := fmt.Sprintf("json-%d.example.com", id)
	require.NoError(t, stack.AddVMWithBackups(st.Sim, "pve1", 4300, name, 200*time.Millisecond))
	require.NoError(t, stack.Seed(context.Background(), store, stack.Service{ID: id, UserID: 3, Domain: name, DedicatedIP: "192.0.2.43", VMID: 4300, Node: "pve1", VMName: name}))
	starter := func(args ...string) (int, []byte) {
		var out, errOut bytes.Buffer
		code := run(append(args, "--config", st.ConfigPath), &out, &errOut)
		require.Empty(t, errOut.String(), args)
		return code, out.Bytes()
	}
	sid := strconv.Itoa(id)

	code, out := starter("plan", "--service-id", sid, "--json")
	require.Equal(t, exitOK, code)
	var plan map[string]any
	require.NoError(t, json.Unmarshal(out, &plan))
	require.Equal(t, []string{"refused", "service_id", "steps"}, keys(plan))
	require.Equal(t, "", plan["refused"])
	require.Contains(t, fmt.Sprint(plan["steps"]), "delete: DELETE /nodes/pve1/qemu/4300")

	code, out = starter("status", "--service-id", sid, "--json")
	require.Equal(t, exitOK, code)
	var status StatusJSON
	require.NoError(t, json.Unmarshal(out, &status))
	require.Equal(t, StatusJSON{ServiceID: id, VMStatus: "ready", Lines: []LineJSON{}}, status)

	code, _ = starter("terminate", "--service-id", sid, "--follow")
	require.Equal(t, exitOK, code)
	code, out = starter("status", "--service-id", sid, "--json")
	require.Equal(t, exitOK, code)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(out, &raw))
	require.Equal(t, []string{"attempt", "last_error", "lines", "phase", "run", "running", "service_id", "vm_status"}, keys(raw))
	status = StatusJSON{}
	require.NoError(t, json.Unmarshal(out, &status))
	require.True(t, status.Run)
	require.Equal(t, "remove", status.VMStatus)
	require.Equal(t, 1, status.Attempt)
	require.NotEmpty(t, status.Lines)

	code, out = starter("list", "--json", "--vm-status", "remove")
	require.Equal(t, exitOK, code)
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out, &top))
	require.Equal(t, []string{"limit", "offset", "rows", "total"}, keys(top))
	var list struct {
		Rows  []map[string]any `json:"rows"`
		Total int              `json:"total"`
	}
	require.NoError(t, json.Unmarshal(out, &list))
	require.Len(t, list.Rows, 1)
	require.Equal(t, 1, list.Total)
	row := list.Rows[0]
	require.Equal(t, []string{"attempt", "domain", "last_error", "node", "phase", "server", "service_id", "updated", "vm_name", "vm_status", "vmid", "workflow_id"}, keys(row))
	require.Equal(t, "terminate-"+sid, row["workflow_id"])
	require.Equal(t, float64(id), row["service_id"])
	require.Equal(t, "remove", row["vm_status"])
	require.Equal(t, float64(1), row["attempt"])
	require.NotEmpty(t, row["phase"])

	code, out = starter("log", "--service-id", sid, "--json")
	require.Equal(t, exitOK, code)
	var logDoc struct {
		ServiceID int              `json:"service_id"`
		Attempts  []map[string]any `json:"attempts"`
	}
	require.NoError(t, json.Unmarshal(out, &logDoc))
	require.Equal(t, id, logDoc.ServiceID)
	require.Len(t, logDoc.Attempts, 1)
	require.Equal(t, []string{"action", "attempt", "duration_ms", "errors", "lines", "phase", "result", "started_at"}, keys(logDoc.Attempts[0]))
	require.Equal(t, "success", logDoc.Attempts[0]["result"])
	require.NotEmpty(t, logDoc.Attempts[0]["lines"])

	code, out = starter("plan", "--service-id", sid, "--json")
	require.Equal(t, exitError, code, "a removed VM: the plan refuses")
	plan = nil
	require.NoError(t, json.Unmarshal(out, &plan))
	require.Contains(t, plan["refused"], "already removed")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
