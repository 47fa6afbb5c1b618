package dbmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
)

// rowsDigest is a digest of every row of table over cols: what "unchanged"
// means for a table of which we may write some other column.
func rowsDigest(t *testing.T, s *dbmodel.Store, table string, cols string) string {
	t.Helper()
	var d *string
	require.NoError(t, s.DB().Raw("SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', "+cols+") ORDER BY 1 SEPARATOR '\n')) FROM `"+table+"`").Scan(&d).Error)
	require.NotNil(t, d)
	return *d
}

func tableChecksum(t *testing.T, s *dbmodel.Store, table string) int64 {
	sum, _ := checksum(t, s, table)
	return sum
}

func seedHosting(t *testing.T, s *dbmodel.Store, ids ...int) {
	t.Helper()
	for _, id := range ids {
		require.NoError(t, whmcsschema.InsertService(s.DB(), whmcsschema.Service{ID: id, UserID: 900 + id,
			Domain: "vm" + time.Duration(id).String() + ".example.com", DedicatedIP: "192.0.2.9"}))
	}
}

func outcome(id, attempt int) dbmodel.Outcome {
	return dbmodel.Outcome{ServiceID: id, UserID: 900 + id, Attempt: attempt, StartedAt: time.Now(), Duration: time.Second, Phase: "delete", Reason: "boom"}
}

// The pvewhmcs source reads Proxmox-VE-for-WHMCS's tables: node and server
// mapped to our proxmox entries, an lxc row refused, no action without an
// identity snapshot, our state in our table, and its tables unchanged by a
// failed and then a successful attempt.
func TestPVEWHMCSSource(t *testing.T) {
	cfg := freshDatabase(t)
	cfg.VMSource = dbmodel.SourceConfig{Kind: dbmodel.SourcePVEWHMCS, PVEWHMCS: dbmodel.PVEWHMCSSource{Servers: map[string]string{"3": "pve-a", "4": "pve-b"}}}
	s := open(t, cfg)
	ctx := context.Background()
	require.NoError(t, s.MigrateOwnTables())
	require.ErrorContains(t, s.CheckWHMCSSchema(), "table mod_pvewhmcs_nodes is missing")
	require.NoError(t, whmcsschema.CreatePVEWHMCS(s.DB()))
	require.NoError(t, s.CheckWHMCSSchema())
	require.NoError(t, whmcsschema.InsertPVEWHMCSNode(s.DB(), whmcsschema.PVEWHMCSNode{ID: 1, PVEName: "pve1", WHMCSID: 3}))
	require.NoError(t, whmcsschema.InsertPVEWHMCSNode(s.DB(), whmcsschema.PVEWHMCSNode{ID: 2, PVEName: "pve2", WHMCSID: 4}))
	for _, v := range []whmcsschema.PVEWHMCSVM{
		{ServiceID: 10, VMID: 110, NodeID: 1, UserID: 910, VType: "qemu", IPAddress: "192.0.2.10", V6Prefix: "2001:db8:10::/64"},
		{ServiceID: 11, VMID: 111, NodeID: 1, UserID: 911, VType: "lxc", IPAddress: "192.0.2.11"},
		{ServiceID: 12, VMID: 112, NodeID: 2, UserID: 912, VType: "qemu", IPAddress: "192.0.2.12", V6Prefix: "2001:db8::12"},
	} {
		require.NoError(t, whmcsschema.InsertPVEWHMCSVM(s.DB(), v))
	}
	seedHosting(t, s, 10, 11, 12, 13)
	vmsSum, nodesSum := tableChecksum(t, s, "mod_pvewhmcs_vms"), tableChecksum(t, s, "mod_pvewhmcs_nodes")

	loc, err := s.LoadLocation(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, dbmodel.Location{Server: "pve-a", Node: "pve1", VMID: 110, IPv4: "192.0.2.10"}, loc, "a v6 prefix is no address")
	loc, err = s.LoadLocation(ctx, 12)
	require.NoError(t, err)
	require.Equal(t, dbmodel.Location{Server: "pve-b", Node: "pve2", VMID: 112, IPv4: "192.0.2.12", IPv6: "2001:db8::12"}, loc)

	_, err = s.LoadService(ctx, 10)
	require.ErrorIs(t, err, dbmodel.ErrNoSnapshot, "never adopted, never clicked: nothing to check the VM against")
	_, err = s.LoadService(ctx, 11)
	require.ErrorIs(t, err, dbmodel.ErrNotKVM)
	require.ErrorIs(t, err, dbmodel.ErrNotFound)
	require.ErrorContains(t, err, `service 11 is an LXC container, not a KVM VM (mod_pvewhmcs_vms.vtype="lxc"): proxmox-terminate terminates KVM guests only`)
	_, err = s.LoadService(ctx, 13)
	require.ErrorIs(t, err, dbmodel.ErrNotFound)
	require.ErrorContains(t, err, "service 13 has no row in mod_pvewhmcs_vms")

	uuid := "6f1c1a4e-0000-4000-8000-000000000110"
	require.NoError(t, s.RecordSnapshot(ctx, 10, dbmodel.Snapshot{Server: "pve-a", Node: "pve1", VMID: 110, Name: "vm10.example.com", UUID: uuid, IPv4: "192.0.2.10"}))
	svc, err := s.LoadService(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, "ready", svc.VM.VMStatus)
	require.Equal(t, [5]any{"pve-a", "pve1", 110, "vm10.example.com", uuid}, [5]any{svc.VM.Server, svc.VM.Node, svc.VM.VMID, svc.VM.VMName, svc.VM.VMUUID})

	require.NoError(t, s.SetStatus(ctx, 10, dbmodel.StatusTerminate))
	done, err := s.FinishFailure(ctx, outcome(10, 1))
	require.NoError(t, err)
	require.True(t, done)
	svc, err = s.LoadService(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, dbmodel.StatusErrorTerminate, svc.VM.VMStatus)
	require.Equal(t, "192.0.2.9", svc.Hosting.DedicatedIP, "a failure keeps the IPs")
	done, err = s.FinishSuccess(ctx, outcome(10, 2))
	require.NoError(t, err)
	require.True(t, done)
	svc, err = s.LoadService(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
	require.Empty(t, svc.Hosting.DedicatedIP+svc.Hosting.Domain, "the documented tblhosting writes")

	// A snapshot of another VM than the one the module now names is stale.
	require.NoError(t, s.RecordSnapshot(ctx, 12, dbmodel.Snapshot{Server: "pve-b", Node: "pve2", VMID: 999, Name: "old.example.com"}))
	_, err = s.LoadService(ctx, 12)
	require.ErrorIs(t, err, dbmodel.ErrNoSnapshot)
	require.ErrorContains(t, err, "the identity snapshot is of vmid 999")

	require.Equal(t, vmsSum, tableChecksum(t, s, "mod_pvewhmcs_vms"), "the module's tables are only read")
	require.Equal(t, nodesSum, tableChecksum(t, s, "mod_pvewhmcs_nodes"))
}

// A mapped source reads any module's table through a column mapping and
// mirrors vm_status into its status column, and writes nothing else there.
func TestMappedSource(t *testing.T) {
	for _, mirror := range []bool{true, false} {
		name := map[bool]string{true: "with status column", false: "read only"}[mirror]
		t.Run(name, func(t *testing.T) {
			cfg := freshDatabase(t)
			m := dbmodel.MappedSource{Table: whmcsschema.MappedModuleTable, ServiceID: "hosting_id", VMID: "pve_vmid", Node: "pve_node", Server: "cluster"}
			if mirror {
				m.Status = "state"
			}
			cfg.VMSource = dbmodel.SourceConfig{Kind: dbmodel.SourceMapped, Mapped: m}
			s := openMapped(t, cfg, "hosting_id, pve_vmid, pve_node, cluster, state, root_password, os_template",
				"(20, 120, 'pve1', 'pve-a', 'active', 'pw20', 'debian-12'), (21, 121, 'pve2', 'pve-a', 'active', 'pw21', 'alma-9')", 20, 21)
			ctx := context.Background()
			const others = "guest_id, hosting_id, pve_vmid, pve_node, cluster, root_password, os_template"
			before, beforeAll := rowsDigest(t, s, whmcsschema.MappedModuleTable, others), tableChecksum(t, s, whmcsschema.MappedModuleTable)

			loc, err := s.LoadLocation(ctx, 20)
			require.NoError(t, err)
			wantStatus := ""
			if mirror {
				wantStatus = "active"
			}
			require.Equal(t, dbmodel.Location{Server: "pve-a", Node: "pve1", VMID: 120, Status: wantStatus}, loc)
			_, err = s.LoadService(ctx, 20)
			require.ErrorIs(t, err, dbmodel.ErrNoSnapshot)
			require.NoError(t, s.RecordSnapshot(ctx, 20, dbmodel.Snapshot{Server: "pve-a", Node: "pve1", VMID: 120, Name: "vm20"}))
			state := func() string {
				var st string
				require.NoError(t, s.DB().Raw("SELECT state FROM "+whmcsschema.MappedModuleTable+" WHERE hosting_id = 20").Scan(&st).Error)
				return st
			}
			require.NoError(t, s.SetStatus(ctx, 20, dbmodel.StatusTerminate))
			if mirror {
				require.Equal(t, dbmodel.StatusTerminate, state())
			}
			_, err = s.FinishFailure(ctx, outcome(20, 1))
			require.NoError(t, err)
			if mirror {
				require.Equal(t, dbmodel.StatusErrorTerminate, state(), "the vendor's admin page reads the mirrored status")
			}
			_, err = s.FinishSuccess(ctx, outcome(20, 2))
			require.NoError(t, err)
			svc, err := s.LoadService(ctx, 20)
			require.NoError(t, err)
			require.Equal(t, dbmodel.StatusRemove, svc.VM.VMStatus)
			require.Equal(t, before, rowsDigest(t, s, whmcsschema.MappedModuleTable, others), "only the status column is written")
			if mirror {
				require.Equal(t, dbmodel.StatusRemove, state())
			} else {
				require.Equal(t, beforeAll, tableChecksum(t, s, whmcsschema.MappedModuleTable), "without a status column the table is only read")
			}
		})
	}
}

// A source's configuration is checked before anything is read.
func TestSourceConfigIsChecked(t *testing.T) {
	base := dbmodel.Config{Driver: "mysql", DSN: "u:p@tcp(h)/d"}
	for want, src := range map[string]dbmodel.SourceConfig{
		`kind "puq" is not own`:                  {Kind: "puq"},
		"set server (the proxmox[].name":         {Kind: dbmodel.SourcePVEWHMCS},
		`servers key "node1" is not a WHMCS`:     {Kind: dbmodel.SourcePVEWHMCS, PVEWHMCS: dbmodel.PVEWHMCSSource{Servers: map[string]string{"node1": "a"}}},
		`mapped.table "" is not a plain`:         {Kind: dbmodel.SourceMapped},
		"exactly one of server (a column)":       {Kind: dbmodel.SourceMapped, Mapped: dbmodel.MappedSource{Table: "t", ServiceID: "a", VMID: "b", Node: "c"}},
		`mapped.status "st;drop" is not a plain`: {Kind: dbmodel.SourceMapped, Mapped: dbmodel.MappedSource{Table: "t", ServiceID: "a", VMID: "b", Node: "c", ServerName: "x", Status: "st;drop"}},
		"which is one of our own tables":         {Kind: dbmodel.SourceMapped, Mapped: dbmodel.MappedSource{Table: dbmodel.DefaultVMTable, ServiceID: "a", VMID: "b", Node: "c", ServerName: "x"}},
	} {
		c := base
		c.VMSource = src
		require.ErrorContains(t, c.Validate(), want)
	}
}
