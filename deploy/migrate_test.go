package deploy

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// The compose `migrate` job, minus Docker: the image's worker binary with
// that service's command and exactly its environment (the DSN pointed at a
// test database whose own tables were never migrated) migrates and exits 0;
// until then the worker's own command refuses, naming `worker migrate`.
func TestComposeMigrateJobMigrates(t *testing.T) {
	store, dbcfg := testenv.NewUnmigratedDatabase(t)
	bin := imageBinaries(t)
	env := secrets()
	env["TERMINATE_DB_DSN"] = dbcfg.DSN
	p := mustLoad(t, env)

	runService := func(name string) (string, error) {
		// The worker must refuse before it dials Temporal.
		argv, environ := composeCommand(t, service(t, p, name), nil, map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:1"})
		cmd := exec.Command(filepath.Join(bin, "worker"), argv...)
		cmd.Env = environ
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := runService("worker")
	require.Error(t, err)
	require.Contains(t, out, "run `worker migrate --config FILE`")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(out), "\n")+1, "one line: %s", out)

	out, err = runService("migrate")
	require.NoError(t, err, out)
	require.Contains(t, out, "created table "+dbmodel.SchemaTable)
	require.True(t, strings.HasSuffix(out, "schema version 1\n"), out)
	require.NoError(t, store.CheckSchema(context.Background()))
	for _, s := range secrets() {
		require.NotContains(t, out, s)
	}
	require.NotContains(t, out, dbcfg.DSN)
}
