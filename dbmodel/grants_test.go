package dbmodel_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// documentedGrants returns the GRANT statements of deploy/INSTALL.md §3 and
// of the README's "Installing beside your WHMCS module".
func documentedGrants(t *testing.T, verb string) []string {
	t.Helper()
	var out []string
	for _, f := range []string{"deploy/INSTALL.md", "README.md"} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), f))
		require.NoError(t, err)
		for _, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
			for _, l := range strings.Split(m[1], "\n") {
				if strings.HasPrefix(l, verb+" ") {
					out = append(out, strings.TrimSuffix(strings.TrimSpace(l), ";"))
				}
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

// The documented grants, exactly, are enough for `worker migrate`, every
// read and write of the worker and the starter, and each VM source; and
// they give no write on another module's table beyond the mirrored column.
func TestDocumentedGrantsAreExact(t *testing.T) {
	cfg := freshDatabase(t)
	root := open(t, cfg)
	require.NoError(t, whmcsschema.CreatePVEWHMCS(root.DB()))
	require.NoError(t, whmcsschema.CreateMappedModule(root.DB()))
	require.NoError(t, whmcsschema.InsertPVEWHMCSNode(root.DB(), whmcsschema.PVEWHMCSNode{ID: 1, PVEName: "pve1", WHMCSID: 3}))
	require.NoError(t, whmcsschema.InsertPVEWHMCSVM(root.DB(), whmcsschema.PVEWHMCSVM{ServiceID: 30, VMID: 130, NodeID: 1, UserID: 930, VType: "qemu", IPAddress: "192.0.2.30"}))
	require.NoError(t, root.DB().Exec("INSERT INTO "+whmcsschema.MappedModuleTable+" (hosting_id, pve_vmid, pve_node, cluster) VALUES (31, 131, 'pve1', 'pve-a')").Error)
	seedHosting(t, root, 29, 30, 31)

	dsn, err := mysqldrv.ParseDSN(cfg.DSN)
	require.NoError(t, err)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	user, pass := "pt_grant_"+hex.EncodeToString(b), "pw-"+hex.EncodeToString(b)
	require.NoError(t, root.DB().Exec("CREATE USER '"+user+"'@'%' IDENTIFIED BY '"+pass+"'").Error)
	t.Cleanup(func() { root.DB().Exec("DROP USER '" + user + "'@'%'") })
	apply := func(verb string) {
		for _, g := range documentedGrants(t, verb) {
			g = strings.ReplaceAll(g, "whmcs.", "`"+dsn.DBName+"`.")
			g = strings.ReplaceAll(g, "'terminate'@'10.0.0.%'", "'"+user+"'@'%'")
			require.NoError(t, root.DB().Exec(g).Error, g)
		}
	}
	apply("GRANT")
	dsn.User, dsn.Passwd = user, pass
	as := func(src dbmodel.SourceConfig) *dbmodel.Store {
		c := cfg
		c.DSN, c.VMSource = dsn.FormatDSN(), src
		return open(t, c)
	}
	ctx := context.Background()

	own := as(dbmodel.SourceConfig{})
	rep, err := own.Migrate(ctx)
	require.NoError(t, err, "worker migrate with the documented grants")
	require.Contains(t, rep.Lines, "created table "+dbmodel.DefaultVMTable+" (schema version 1)")
	apply("REVOKE") // what the worker and the starter keep
	rep, err = own.Migrate(ctx)
	require.NoError(t, err, "a current schema needs no DDL privilege")
	require.Contains(t, rep.Lines, dbmodel.DefaultVMTable+": at schema version 1, nothing to do")
	require.Error(t, own.DB().Exec("ALTER TABLE "+dbmodel.DefaultVMTable+" ADD COLUMN x int").Error, "revoked")
	require.NoError(t, own.CheckSchema(ctx))
	require.NoError(t, own.CheckWHMCSSchema())
	require.NoError(t, own.InsertVM(ctx, dbmodel.VMInfo{ServiceID: 29, VMStatus: "ready", Server: "pve-a", Node: "pve1", VMID: 129, VMName: "vm29"}))
	_, err = own.LoadService(ctx, 29)
	require.NoError(t, err)
	require.NoError(t, own.SetStatus(ctx, 29, dbmodel.StatusTerminate))
	_, err = own.FinishFailure(ctx, outcome(29, 1))
	require.NoError(t, err)
	_, err = own.FinishSuccess(ctx, outcome(29, 2))
	require.NoError(t, err)
	require.NoError(t, own.WriteModuleLog(ctx, "test", "req", "resp", nil))
	_, err = own.ModuleLogs(ctx)
	require.NoError(t, err)
	_, err = own.ServicesWithStatus(ctx, dbmodel.StatusTerminate, 10)
	require.NoError(t, err)
	require.NoError(t, own.DeleteRecord(ctx, 29))

	pw := as(dbmodel.SourceConfig{Kind: dbmodel.SourcePVEWHMCS, PVEWHMCS: dbmodel.PVEWHMCSSource{Server: "pve-a"}})
	require.NoError(t, pw.CheckWHMCSSchema())
	require.NoError(t, pw.RecordSnapshot(ctx, 30, dbmodel.Snapshot{Server: "pve-a", Node: "pve1", VMID: 130, Name: "vm30"}))
	require.NoError(t, pw.SetStatus(ctx, 30, dbmodel.StatusTerminate))
	_, err = pw.FinishSuccess(ctx, outcome(30, 1))
	require.NoError(t, err)
	require.Error(t, pw.DB().Exec("UPDATE mod_pvewhmcs_vms SET vmid = 1").Error, "SELECT only on the module's tables")

	mp := as(dbmodel.SourceConfig{Kind: dbmodel.SourceMapped, Mapped: dbmodel.MappedSource{Table: whmcsschema.MappedModuleTable,
		ServiceID: "hosting_id", VMID: "pve_vmid", Node: "pve_node", Server: "cluster", Status: "state"}})
	require.NoError(t, mp.CheckWHMCSSchema())
	require.NoError(t, mp.RecordSnapshot(ctx, 31, dbmodel.Snapshot{Server: "pve-a", Node: "pve1", VMID: 131, Name: "vm31"}))
	require.NoError(t, mp.SetStatus(ctx, 31, dbmodel.StatusTerminate), "the column-level UPDATE covers the mirror")
	_, err = mp.FinishFailure(ctx, outcome(31, 1))
	require.NoError(t, err)
	require.Error(t, mp.DB().Exec("UPDATE "+whmcsschema.MappedModuleTable+" SET pve_vmid = 1").Error, "no other column is writable")
	require.Error(t, mp.DB().Exec("DELETE FROM "+whmcsschema.MappedModuleTable).Error)
}
