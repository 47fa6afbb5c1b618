package dbmodel_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
)

// openMapped opens a store on cfg with our tables migrated and the mapped
// module's table created and filled with values (in columns), and a
// tblhosting row for each of the services ids.
func openMapped(t *testing.T, cfg dbmodel.Config, columns, values string, ids ...int) *dbmodel.Store {
	t.Helper()
	s := open(t, cfg)
	require.NoError(t, s.MigrateOwnTables())
	require.NoError(t, whmcsschema.CreateMappedModule(s.DB()))
	require.NoError(t, s.CheckWHMCSSchema())
	require.NoError(t, s.DB().Exec("INSERT INTO "+whmcsschema.MappedModuleTable+" ("+columns+") VALUES "+values).Error)
	seedHosting(t, s, ids...)
	return s
}

// A mapped source with a fixed server name (server_name instead of a server
// column) gives that proxmox[].name to every row, whatever a column of the
// table that happens to name a server holds, and only reads the table.
func TestMappedSourceFixedServerName(t *testing.T) {
	cfg := freshDatabase(t)
	cfg.VMSource = dbmodel.SourceConfig{Kind: dbmodel.SourceMapped, Mapped: dbmodel.MappedSource{
		Table: whmcsschema.MappedModuleTable, ServiceID: "hosting_id", VMID: "pve_vmid", Node: "pve_node", ServerName: "pve-fixed"}}
	require.Empty(t, cfg.Validate())
	require.Equal(t, []string{"pve-fixed"}, cfg.VMSource.ServerNames())
	s := openMapped(t, cfg, "hosting_id, pve_vmid, pve_node, cluster, root_password, os_template",
		"(30, 130, 'pve1', 'pve-a', 'pw30', 'debian-12'), (31, 131, 'pve2', '', 'pw31', 'alma-9'), (32, 132, 'pve3', 'pve-b', NULL, '')", 30, 31, 32)
	ctx := context.Background()
	before, create := checksum(t, s, whmcsschema.MappedModuleTable)

	for _, want := range []dbmodel.Location{
		{Server: "pve-fixed", Node: "pve1", VMID: 130},
		{Server: "pve-fixed", Node: "pve2", VMID: 131},
		{Server: "pve-fixed", Node: "pve3", VMID: 132},
	} {
		loc, err := s.LoadLocation(ctx, want.VMID-100)
		require.NoError(t, err)
		require.Equal(t, want, loc, "service %d: the fixed name, never the cluster column", want.VMID-100)
	}

	// Through LoadService too: the location's server is the fixed name.
	require.NoError(t, s.RecordSnapshot(ctx, 31, dbmodel.Snapshot{Server: "pve-fixed", Node: "pve2", VMID: 131, Name: "vm31"}))
	svc, err := s.LoadService(ctx, 31)
	require.NoError(t, err)
	require.Equal(t, [4]any{"pve-fixed", "pve2", 131, "vm31"}, [4]any{svc.VM.Server, svc.VM.Node, svc.VM.VMID, svc.VM.VMName})

	_, err = s.LoadLocation(ctx, 33)
	require.ErrorIs(t, err, dbmodel.ErrNotFound)
	require.ErrorContains(t, err, "service 33 has no row in "+whmcsschema.MappedModuleTable)

	sum, def := checksum(t, s, whmcsschema.MappedModuleTable)
	require.Equal(t, before, sum, "the module's table is only read")
	require.Equal(t, create, def)
}

// acmeVMsTable is another module's VM table that holds the VM's name and
// smbios1 uuid, besides columns we never read.
const acmeVMsTable = "mod_acmevps_vms"

// A mapped source with name and uuid columns reads the VM's name and its
// smbios1 uuid (lowercased) from them; a NULL column reads as empty. Without
// them the location has no name and no uuid ("mapped name/uuid columns, when
// configured"). The table is only read either way.
func TestMappedSourceNameAndUUIDColumns(t *testing.T) {
	for _, withCols := range []bool{true, false} {
		name := map[bool]string{true: "name and uuid columns", false: "no name or uuid column"}[withCols]
		t.Run(name, func(t *testing.T) {
			cfg := freshDatabase(t)
			m := dbmodel.MappedSource{Table: acmeVMsTable, ServiceID: "service", VMID: "vmid", Node: "node", Server: "cluster"}
			if withCols {
				m.Name, m.UUID = "hostname", "smbios_uuid"
			}
			cfg.VMSource = dbmodel.SourceConfig{Kind: dbmodel.SourceMapped, Mapped: m}
			require.Empty(t, cfg.Validate())
			wantCols := []string{"service", "vmid", "node", "cluster"}
			if withCols {
				wantCols = append(wantCols, "hostname", "smbios_uuid")
			}
			require.Equal(t, map[string][]string{acmeVMsTable: wantCols}, cfg.VMSource.ForeignTables())
			s := open(t, cfg)
			ctx := context.Background()
			require.NoError(t, s.MigrateOwnTables())
			require.NoError(t, s.DB().Exec("CREATE TABLE `"+acmeVMsTable+"` ("+
				"`id` int(10) unsigned NOT NULL AUTO_INCREMENT, `service` int(10) NOT NULL, `vmid` int(10) DEFAULT NULL, "+
				"`node` varchar(64) NOT NULL DEFAULT '', `cluster` varchar(64) NOT NULL DEFAULT '', "+
				"`hostname` varchar(255) DEFAULT NULL, `smbios_uuid` varchar(64) DEFAULT NULL, `notes` text, "+
				"PRIMARY KEY (`id`), UNIQUE KEY `service` (`service`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4").Error)
			require.NoError(t, s.CheckWHMCSSchema())
			require.NoError(t, s.DB().Exec("INSERT INTO `"+acmeVMsTable+"` (service, vmid, node, cluster, hostname, smbios_uuid, notes) VALUES "+
				"(40, 140, 'pve1', 'pve-a', 'vm40.example.com', '6F1C1A4E-0000-4000-8000-0000000000AB', 'n40'), "+
				"(41, 141, 'pve2', 'pve-b', 'vm41', '6f1c1a4e-0000-4000-8000-000000000141', NULL), "+
				"(42, 142, 'pve1', 'pve-a', NULL, NULL, 'n42')").Error)
			seedHosting(t, s, 40, 41, 42)
			before, create := checksum(t, s, acmeVMsTable)

			want := map[int]dbmodel.Location{
				40: {Server: "pve-a", Node: "pve1", VMID: 140},
				41: {Server: "pve-b", Node: "pve2", VMID: 141},
				42: {Server: "pve-a", Node: "pve1", VMID: 142},
			}
			if withCols {
				want[40] = dbmodel.Location{Server: "pve-a", Node: "pve1", VMID: 140, Name: "vm40.example.com", UUID: "6f1c1a4e-0000-4000-8000-0000000000ab"}
				want[41] = dbmodel.Location{Server: "pve-b", Node: "pve2", VMID: 141, Name: "vm41", UUID: "6f1c1a4e-0000-4000-8000-000000000141"}
			}
			for _, id := range []int{40, 41, 42} {
				loc, err := s.LoadLocation(ctx, id)
				require.NoError(t, err)
				require.Equal(t, want[id], loc, "service %d", id)
			}

			sum, def := checksum(t, s, acmeVMsTable)
			require.Equal(t, before, sum, "the module's table is only read")
			require.Equal(t, create, def)
		})
	}
}
