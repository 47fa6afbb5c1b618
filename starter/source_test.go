package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// sourceTiming keeps the runs short.
var sourceTiming = stack.FastTiming()

// sourceCase is one VM source: how to create and fill the other module's
// tables, and what "unchanged" means for each of them.
type sourceCase struct {
	source dbmodel.SourceConfig
	create func(t *testing.T, s *dbmodel.Store)
	seed   func(t *testing.T, s *dbmodel.Store, serviceID, vmid int)
	// digests returns one value per foreign table over the columns we never write.
	digests func(t *testing.T, s *dbmodel.Store) map[string]string
	// mirrored returns the status column's value, or "" when there is none.
	mirrored func(t *testing.T, s *dbmodel.Store, serviceID int) string
}

func digest(t *testing.T, s *dbmodel.Store, table, cols string) string {
	t.Helper()
	var d *string
	require.NoError(t, s.DB().Raw("SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', "+cols+") ORDER BY 1 SEPARATOR '\n')) FROM `"+table+"`").Scan(&d).Error)
	require.NotNil(t, d)
	return *d
}

func sourceCases() map[string]sourceCase {
	return map[string]sourceCase{
		"pvewhmcs": {
			source: dbmodel.SourceConfig{Kind: dbmodel.SourcePVEWHMCS},
			create: func(t *testing.T, s *dbmodel.Store) {
				require.NoError(t, whmcsschema.CreatePVEWHMCS(s.DB()))
				require.NoError(t, whmcsschema.InsertPVEWHMCSNode(s.DB(), whmcsschema.PVEWHMCSNode{ID: 1, PVEName: "pve1", WHMCSID: 3}))
			},
			seed: func(t *testing.T, s *dbmodel.Store, id, vmid int) {
				require.NoError(t, whmcsschema.InsertPVEWHMCSVM(s.DB(), whmcsschema.PVEWHMCSVM{ServiceID: id, VMID: vmid, NodeID: 1, UserID: 7, VType: "qemu", IPAddress: "192.0.2.50"}))
			},
			digests: func(t *testing.T, s *dbmodel.Store) map[string]string {
				return map[string]string{
					"mod_pvewhmcs_vms":   digest(t, s, "mod_pvewhmcs_vms", "id, vmid, node_id, user_id, vtype, ipaddress, subnetmask, gateway, created, v6prefix"),
					"mod_pvewhmcs_nodes": digest(t, s, "mod_pvewhmcs_nodes", "id, pve_id, pve_name, whmcs_id, title, ip, pve_ver, status, max_guests, supports, templates, created"),
				}
			},
			mirrored: func(*testing.T, *dbmodel.Store, int) string { return "" },
		},
		"mapped": {
			source: dbmodel.SourceConfig{Kind: dbmodel.SourceMapped, Mapped: dbmodel.MappedSource{Table: whmcsschema.MappedModuleTable,
				ServiceID: "hosting_id", VMID: "pve_vmid", Node: "pve_node", Server: "cluster", Status: "state"}},
			create: func(t *testing.T, s *dbmodel.Store) { require.NoError(t, whmcsschema.CreateMappedModule(s.DB())) },
			seed: func(t *testing.T, s *dbmodel.Store, id, vmid int) {
				require.NoError(t, s.DB().Exec("INSERT INTO "+whmcsschema.MappedModuleTable+" (hosting_id, pve_vmid, pve_node, cluster, state, root_password) VALUES (?, ?, 'pve1', ?, 'active', 'secret')",
					id, vmid, stack.ServerName).Error)
			},
			digests: func(t *testing.T, s *dbmodel.Store) map[string]string {
				return map[string]string{whmcsschema.MappedModuleTable: digest(t, s, whmcsschema.MappedModuleTable, "guest_id, hosting_id, pve_vmid, pve_node, cluster, root_password, os_template")}
			},
			mirrored: func(t *testing.T, s *dbmodel.Store, id int) string {
				var st string
				require.NoError(t, s.DB().Raw("SELECT state FROM "+whmcsschema.MappedModuleTable+" WHERE hosting_id = ?", id).Scan(&st).Error)
				return st
			},
		},
	}
}

// Each foreign VM source end to end on MariaDB, the dev server and the
// simulator: the click records the identity snapshot and starts the run;
// one service terminates, one fails at DELETE (protection) and waits for an
// admin; an lxc guest or an unknown service is refused. The other module's
// tables are unchanged except the mirrored status column.
func TestForeignSourcesEndToEnd(t *testing.T) {
	for name, sc := range sourceCases() {
		t.Run(name, func(t *testing.T) {
			dev := testenv.DevServer(t)
			plain, dbcfg := testenv.NewDatabase(t)
			sc.create(t, plain)
			base := int(time.Now().UnixNano()%100000)*10 + 500000
			okID, failID := base+1, base+2
			for i, id := range []int{okID, failID} {
				require.NoError(t, whmcsschema.InsertService(plain.DB(), whmcsschema.Service{ID: id, UserID: 7, Domain: fmt.Sprintf("src-%d.example.com", id), DedicatedIP: "192.0.2.50"}))
				sc.seed(t, plain, id, 4100+i)
			}
			dbcfg.VMSource = sc.source
			st, err := stack.Start(stack.Options{Dir: t.TempDir(), DB: dbcfg, TemporalHost: dev.FrontendHostPort(),
				TaskQueue: fmt.Sprintf("src-%s-%d", name, base), Fixture: stack.Cluster(), Client: dev.Client(),
				WorkerOut: &bytes.Buffer{}, Timing: sourceTiming})
			require.NoError(t, err)
			t.Cleanup(st.Stop)
			require.NoError(t, stack.AddVMWithBackups(st.Sim, "pve1", 4100, fmt.Sprintf("src-%d.example.com", okID), 300*time.Millisecond))
			require.NoError(t, st.Sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 4101, Name: fmt.Sprintf("src-%d.example.com", failID), Status: "stopped", Protection: true}))
			store := st.Deps.Store
			before := sc.digests(t, store)
			ctx := context.Background()

			click := func(id int) (int, string) {
				var out, errOut bytes.Buffer
				code := run([]string{"terminate", "--service-id", strconv.Itoa(id), "--follow", "--config", st.ConfigPath}, &out, &errOut)
				return code, out.String() + errOut.String()
			}
			code, out := click(okID)
			require.Equal(t, exitOK, code, out)
			require.Contains(t, out, "result=success")
			svc, err := store.LoadService(ctx, okID)
			require.NoError(t, err)
			require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
			require.Empty(t, svc.Hosting.DedicatedIP+svc.Hosting.Domain, "clean DB wiped tblhosting")
			_, gone := st.Sim.VM("pve1", 4100)
			require.False(t, gone, "the VM is deleted")

			code, out = click(failID)
			require.Equal(t, exitWaiting, code, out)
			svc, err = store.LoadService(ctx, failID)
			require.NoError(t, err)
			require.Equal(t, dbmodel.StatusErrorTerminate, svc.VM.VMStatus)
			require.Equal(t, fmt.Sprintf("src-%d.example.com", failID), svc.VM.VMName, "the click recorded the identity snapshot")
			require.NotEmpty(t, svc.VM.VMUUID)
			require.Equal(t, "192.0.2.50", svc.Hosting.DedicatedIP, "a failure keeps the IPs")

			require.Equal(t, before, sc.digests(t, store), "the other module's tables are only read")
			if name == "mapped" {
				require.Equal(t, dbmodel.StatusRemove, sc.mirrored(t, store, okID))
				require.Equal(t, dbmodel.StatusErrorTerminate, sc.mirrored(t, store, failID))
			}

			// A recorded snapshot is what the guard compares against: a VM at
			// that vmid by another name (a reused vmid) is refused and untouched.
			reusedID := base + 3
			require.NoError(t, whmcsschema.InsertService(store.DB(), whmcsschema.Service{ID: reusedID, UserID: 7, Domain: "old.example.com", DedicatedIP: "192.0.2.51"}))
			sc.seed(t, store, reusedID, 4102)
			require.NoError(t, st.Sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 4102, Name: "new-tenant.example.com", Status: "running"}))
			require.NoError(t, store.RecordSnapshot(ctx, reusedID, dbmodel.Snapshot{Server: stack.ServerName, Node: "pve1", VMID: 4102, Name: "old.example.com"}))
			code, out = click(reusedID)
			require.Equal(t, exitError, code, out)
			require.Contains(t, out, `identity mismatch at pve1/4102: the record describes name "old.example.com", Proxmox has name "new-tenant.example.com"`)
			vmState, ok := st.Sim.VM("pve1", 4102)
			require.True(t, ok)
			require.Equal(t, "running", vmState.QMPStatus, "the other VM is untouched")
			svc, err = store.LoadService(ctx, reusedID)
			require.NoError(t, err)
			require.Equal(t, "ready", svc.VM.VMStatus)

			// Refusals: one line, nothing written.
			var out2, errOut bytes.Buffer
			require.Equal(t, exitError, run([]string{"terminate", "--service-id", strconv.Itoa(base + 9), "--config", st.ConfigPath}, &out2, &errOut))
			require.Contains(t, errOut.String(), "does not exist in tblhosting")
		})
	}
}

// A pvewhmcs lxc guest is refused at the click with the reason.
func TestPVEWHMCSRefusesLXC(t *testing.T) {
	dev := testenv.DevServer(t)
	plain, dbcfg := testenv.NewDatabase(t)
	sc := sourceCases()["pvewhmcs"]
	sc.create(t, plain)
	require.NoError(t, whmcsschema.InsertService(plain.DB(), whmcsschema.Service{ID: 77, UserID: 7, Domain: "ct.example.com"}))
	require.NoError(t, whmcsschema.InsertPVEWHMCSVM(plain.DB(), whmcsschema.PVEWHMCSVM{ServiceID: 77, VMID: 4177, NodeID: 1, UserID: 7, VType: "lxc", IPAddress: "192.0.2.77"}))
	dbcfg.VMSource = sc.source
	st, err := stack.Start(stack.Options{Dir: t.TempDir(), DB: dbcfg, TemporalHost: dev.FrontendHostPort(),
		TaskQueue: fmt.Sprintf("lxc-%d", time.Now().UnixNano()), Fixture: stack.Cluster(), Client: dev.Client(),
		WorkerOut: &bytes.Buffer{}, Timing: sourceTiming, NoWorker: true})
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	before := sc.digests(t, plain)
	var out, errOut bytes.Buffer
	require.Equal(t, exitError, run([]string{"terminate", "--service-id", "77", "--config", st.ConfigPath}, &out, &errOut))
	require.Equal(t, "error: service 77 is an LXC container, not a KVM VM (mod_pvewhmcs_vms.vtype=\"lxc\"): proxmox-terminate terminates KVM guests only\n", errOut.String())
	require.Equal(t, before, sc.digests(t, plain))
	var n int64
	require.NoError(t, plain.DB().Table(dbcfg.VMTable).Count(&n).Error)
	require.Zero(t, n, "nothing recorded")
}
