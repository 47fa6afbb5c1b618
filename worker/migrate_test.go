package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// The worker refuses a database that is not migrated, with one line naming
// the command, before it talks to Temporal; `worker migrate` fixes it.
func TestWorkerRefusesUnmigratedDatabase(t *testing.T) {
	path, store := testenv.UnmigratedConfig(t, "PT_WORKER_TEST_SECRET", "worker-test-secret")
	err := run(path, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.ErrorIs(t, err, dbmodel.ErrSchema)
	require.Contains(t, err.Error(), "run `worker migrate --config FILE`")
	require.NotContains(t, err.Error(), "\n")
	require.False(t, store.DB().Migrator().HasTable(dbmodel.SchemaTable), "the worker changed no schema")

	var out, errOut bytes.Buffer
	require.Equal(t, 0, migrateMain([]string{"--config", path}, &out, &errOut), errOut.String())
	require.Equal(t, "created table "+dbmodel.SchemaTable+"\n"+
		dbmodel.DefaultVMTable+": recorded at schema version 1 (its columns were already current)\n"+
		dbmodel.DefaultActionLogTable+": recorded at schema version 1 (its columns were already current)\n"+
		"schema version 1\n", out.String())
	require.NoError(t, store.CheckSchema(context.Background()))

	out.Reset()
	require.Equal(t, 0, migrateMain([]string{"--config", path}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "nothing to do")
}

// `worker migrate` needs only the database section: no Proxmox secret.
func TestMigrateNeedsOnlyTheDatabase(t *testing.T) {
	path, _ := testenv.UnmigratedConfig(t, "PT_WORKER_TEST_SECRET", "worker-test-secret")
	t.Setenv("PT_WORKER_TEST_SECRET", "")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, migrateMain([]string{"--config", path}, &out, &errOut), errOut.String())
	require.Equal(t, 2, migrateMain([]string{"--config", path, "extra"}, &out, &errOut))
	errOut.Reset()
	require.Equal(t, 1, migrateMain([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, &out, &errOut))
	require.Equal(t, 1, strings.Count(errOut.String(), "\n"), errOut.String())
}

// The --migrate flag of earlier releases is an error naming the command.
func TestMigrateFlagIsGone(t *testing.T) {
	for _, args := range [][]string{{"--migrate"}, {"--config", "x", "-migrate=false"}, {"--migrate=true"}} {
		err := refuseMigrateFlag(args)
		require.Error(t, err, args)
		require.Contains(t, err.Error(), "worker migrate --config FILE")
	}
	require.NoError(t, refuseMigrateFlag([]string{"--config", "migrate.yaml", "--http-addr", ""}))
}
