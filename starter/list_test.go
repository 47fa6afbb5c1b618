package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// offlineStack is a stack with no Temporal server and no worker: the
// simulator and the config, for the commands that read only the database
// and Proxmox.
func offlineStack(t *testing.T, dbcfg dbmodel.Config, queue string) *stack.Stack {
	t.Helper()
	st, err := stack.Start(stack.Options{Dir: t.TempDir(), DB: dbcfg, TemporalHost: "127.0.0.1:1", TaskQueue: queue,
		Fixture: stack.Cluster(), NoWorker: true})
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	return st
}

// list pages, filters and searches in the database: 120 rows, three
// statuses, searchable by service id, domain and IP.
func TestListPagesAndSearches(t *testing.T) {
	store, dbcfg := testenv.NewDatabase(t)
	st := offlineStack(t, dbcfg, "list")
	statuses := []string{"ready", "error_terminate", "remove"}
	for i := 1; i <= 120; i++ {
		domain := fmt.Sprintf("vm%03d.example.com", i)
		if i == 7 {
			domain = "100%_sure.example.com"
		}
		require.NoError(t, whmcsschema.InsertService(store.DB(), whmcsschema.Service{ID: 5000 + i, UserID: 1, Domain: domain,
			DedicatedIP: fmt.Sprintf("198.51.100.%d", i)}))
		require.NoError(t, store.InsertVM(t.Context(), dbmodel.VMInfo{ServiceID: 5000 + i, VMStatus: statuses[i%3], Node: "pve1", VMID: 200 + i}))
	}
	list := func(args ...string) ListJSON {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(append(append([]string{"list", "--json"}, args...), "--config", st.ConfigPath), &out, &errOut)
		require.Equal(t, exitOK, code, errOut.String())
		var doc ListJSON
		require.NoError(t, json.Unmarshal(out.Bytes(), &doc))
		return doc
	}

	all := list()
	require.EqualValues(t, 120, all.Total)
	require.Len(t, all.Rows, 120)
	require.Equal(t, "error_terminate", all.Rows[0].VMStatus, "by vm_status, then service id")

	p1, p2 := list("--limit", "50"), list("--limit", "50", "--offset", "50")
	require.EqualValues(t, 120, p1.Total)
	require.Len(t, p1.Rows, 50)
	require.Equal(t, all.Rows[50:100], p2.Rows)
	require.Len(t, list("--limit", "50", "--offset", "100").Rows, 20)

	errs := list("--vm-status", "error_terminate", "--limit", "10")
	require.EqualValues(t, 40, errs.Total)
	require.Len(t, errs.Rows, 10)

	byID := list("--search", "5042")
	require.Len(t, byID.Rows, 1)
	require.Equal(t, 5042, byID.Rows[0].ServiceID)
	require.Equal(t, "vm042.example.com", byID.Rows[0].Domain)
	byDomain := list("--search", "vm01")
	require.EqualValues(t, 10, byDomain.Total, "vm010..vm019")
	byIP := list("--search", "198.51.100.119")
	require.Len(t, byIP.Rows, 1)
	require.Equal(t, 5119, byIP.Rows[0].ServiceID)
	require.EqualValues(t, 1, list("--search", "100%_").Total, "% and _ match themselves")
	require.EqualValues(t, 1, list("--search", "%").Total, "only the domain with a % in it")
	require.EqualValues(t, 0, list("--search", "nothing-like-this").Total)

	for _, bad := range [][]string{{"--offset", "5"}, {"--limit", "-1"}, {"--limit", "1001"}, {"--offset", "-1", "--limit", "5"}} {
		var out, errOut bytes.Buffer
		code := run(append(append([]string{"list"}, bad...), "--config", st.ConfigPath), &out, &errOut)
		require.Equal(t, exitUsage, code, bad)
		require.Empty(t, out.String())
	}
	var out, errOut bytes.Buffer
	require.Equal(t, exitUsage, run([]string{"status", "--service-id", "5001", "--search", "x", "--config", st.ConfigPath}, &out, &errOut))
	require.Contains(t, errOut.String(), "--search is only for list")
}

// log is an error for a service without a VM row, and an empty list for a
// row with no attempt yet.
func TestLogOfServicesWithoutAttempts(t *testing.T) {
	store, dbcfg := testenv.NewDatabase(t)
	st := offlineStack(t, dbcfg, "log")
	require.NoError(t, stack.Seed(t.Context(), store, stack.Service{ID: 6001, UserID: 1, Domain: "a.example.com", VMID: 301, Node: "pve1"}))

	var out, errOut bytes.Buffer
	require.Equal(t, exitOK, run([]string{"log", "--service-id", "6001", "--json", "--config", st.ConfigPath}, &out, &errOut), errOut.String())
	require.JSONEq(t, `{"service_id":6001,"attempts":[]}`, out.String())

	out.Reset()
	errOut.Reset()
	require.Equal(t, exitError, run([]string{"log", "--service-id", "6002", "--config", st.ConfigPath}, &out, &errOut))
	require.Equal(t, "error: service 6002 has no row in our VM table\n", errOut.String())
	require.Empty(t, out.String())
}
