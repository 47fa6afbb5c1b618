package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// The starter refuses a database whose own tables are not migrated: one
// line naming `worker migrate`, exit 1, nothing written.
func TestStarterRefusesUnmigratedDatabase(t *testing.T) {
	path, store := testenv.UnmigratedConfig(t, "PT_STARTER_TEST_SECRET", "starter-test-secret")
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
