package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// The starter refuses a database whose own tables are not migrated: one
// line naming `worker migrate`, exit 1, nothing written.
func TestStarterRefusesUnmigratedDatabase(t *testing.T) {
	store, cfg := testenv.NewDatabase(t)
	require.NoError(t, store.DB().Exec("DROP TABLE "+dbmodel.SchemaTable).Error)
	t.Setenv("PT_STARTER_TEST_SECRET", "starter-test-secret")
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`temporal: {address: "127.0.0.1:1"}
database: {driver: mysql, dsn: %q}
proxmox:
  - {name: pve, url: "https://127.0.0.1:1", token_id: "t@pve!w", token_secret_env: PT_STARTER_TEST_SECRET, insecure: true}
`, cfg.DSN)), 0o600))
	for _, cmd := range []string{"terminate", "status", "plan"} {
		var out, errOut bytes.Buffer
		code := run([]string{cmd, "--service-id", "5", "--config", path, "--timeout", "5s"}, &out, &errOut)
		require.Equal(t, exitError, code, cmd)
		require.Empty(t, out.String(), cmd)
		require.Equal(t, 1, strings.Count(errOut.String(), "\n"), "%s: %s", cmd, errOut.String())
		require.Contains(t, errOut.String(), "run `worker migrate --config FILE`", cmd)
	}
	require.False(t, store.DB().Migrator().HasTable(dbmodel.SchemaTable))
}
