package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/config"
)

func TestExampleConfigLoads(t *testing.T) {
	t.Setenv("TERMINATE_DB_DSN", "whmcs:db-pass-123@tcp(127.0.0.1:3306)/whmcs?parseTime=true")
	t.Setenv("PVE_TOKEN_SECRET", "pve-secret-456")
	t.Setenv("PDNS_API_KEY", "pdns-key-789")
	t.Setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
	c, err := config.Load("../config.example.yaml")
	require.NoError(t, err)
	require.Equal(t, "temporal.internal:7233", c.Temporal.Address, "the environment overrides the file")
	require.Equal(t, "proxmox-terminate", c.Temporal.TaskQueue)
	require.Equal(t, 120*time.Second, c.Timing.StopWindow)
	require.Equal(t, time.Minute, c.Worker.ReconcileEvery)
	require.Equal(t, "mod_proxmoxterminate_vms", c.Database.VMTable)
	require.ElementsMatch(t, []string{"db-pass-123", "pve-secret-456", "pdns-key-789"}, c.Secrets())
}

func TestBadConfigsAreRefusedClearly(t *testing.T) {
	t.Setenv("PVE_TOKEN_SECRET", "pve-secret-456")
	base := `database: {driver: mysql, dsn: "u:p@tcp(h:3306)/d"}
proxmox:
  - {name: a, url: "https://pve:8006", token_id: "u@pam!t", token_secret_env: PVE_TOKEN_SECRET}
`
	for name, tc := range map[string]struct{ yaml, want string }{
		"empty":            {"", "is empty"},
		"unknown key":      {base + "bogus: 1\n", "field bogus not found"},
		"typo in timing":   {base + "timing: {stop_windw: 5s}\n", "field stop_windw not found"},
		"bad duration":     {base + "timing: {stop_window: soon}\n", "soon"},
		"negative window":  {base + "timing: {stop_window: -5s}\n", "stop_window must be positive"},
		"no proxmox":       {`database: {driver: mysql, dsn: x}` + "\n", "at least one server"},
		"bad driver":       {strings.Replace(base, "mysql", "oracle", 1), `driver "oracle"`},
		"duplicate server": {base + `  - {name: a, url: "https://pve2:8006", token_id: "u@pam!t", token_secret_env: PVE_TOKEN_SECRET}` + "\n", `duplicate name "a"`},
		"unset secret env": {strings.Replace(base, "PVE_TOKEN_SECRET}", "PT_TEST_NOT_SET}", 1), "environment variable PT_TEST_NOT_SET (token_secret_env) is empty"},
		"bad dns kind":     {base + "dns: [{kind: bind9}]\n", "bind9"},
		"tiny reconcile":   {base + "worker: {reconcile_every: 10ms}\n", "reconcile_every"},
		"negative delay":   {base + "timing: {destroy_delay: -1h}\n", "destroy_delay must be between 0 (no undo window) and 2160h0m0s (90 days)"},
		"delay too long":   {base + "timing: {destroy_delay: 2161h}\n", "destroy_delay must be between 0"},
	} {
		_, err := config.Parse([]byte(tc.yaml), "test.yaml")
		require.Error(t, err, name)
		require.Contains(t, err.Error(), tc.want, name)
		require.NotContains(t, err.Error(), "pve-secret-456", name)
	}
	c, err := config.Parse([]byte(base), "test.yaml")
	require.NoError(t, err)
	require.Zero(t, c.Timing.DestroyDelay, "no undo window unless configured")
	c, err = config.Parse([]byte(base+"timing: {destroy_delay: 72h}\n"), "test.yaml")
	require.NoError(t, err)
	require.Equal(t, 72*time.Hour, c.Timing.DestroyDelay)
	require.NoError(t, os.Unsetenv("PT_TEST_NOT_SET"))
}

// LoadDatabase (`worker migrate`) checks only the database section: it
// loads without the Proxmox secret, but not without the DSN or with a typo.
func TestLoadDatabaseNeedsOnlyTheDatabase(t *testing.T) {
	t.Setenv("TERMINATE_DB_DSN", "whmcs:db-pass-123@tcp(127.0.0.1:3306)/whmcs?parseTime=true")
	t.Setenv("PVE_TOKEN_SECRET", "")
	t.Setenv("PDNS_API_KEY", "")
	_, err := config.Load("../config.example.yaml")
	require.Error(t, err)
	c, err := config.LoadDatabase("../config.example.yaml")
	require.NoError(t, err)
	require.Equal(t, "mod_proxmoxterminate_action_log", c.Database.ActionLogTable)

	t.Setenv("TERMINATE_DB_DSN", "")
	_, err = config.LoadDatabase("../config.example.yaml")
	require.ErrorContains(t, err, "TERMINATE_DB_DSN (dsn_env) is empty")

	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	require.NoError(t, os.WriteFile(bad, []byte("database: {dsn: x, vm_tabel: y}\n"), 0o600))
	_, err = config.LoadDatabase(bad)
	require.ErrorContains(t, err, "vm_tabel")
	require.NoError(t, os.WriteFile(bad, []byte("database: {dsn: x, vm_table: t, action_log_table: t}\n"), 0o600))
	_, err = config.LoadDatabase(bad)
	require.ErrorContains(t, err, `vm_table and action_log_table are both "t"`)
	require.NoError(t, os.WriteFile(bad, []byte("database: {dsn: x, vm_table: mod_proxmoxterminate_schema}\n"), 0o600))
	_, err = config.LoadDatabase(bad)
	require.ErrorContains(t, err, "reserved")
}

// The README's vm_source examples are valid configuration.
func TestReadmeVMSourceExamplesParse(t *testing.T) {
	t.Setenv("PVE_TOKEN_SECRET", "pve-secret-456")
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	text := string(readme)
	start := strings.Index(text, "```yaml\ndatabase:\n  vm_source:")
	require.GreaterOrEqual(t, start, 0, "README has the vm_source example")
	block := text[start+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	docs := strings.Split(block, "---\n")
	require.Len(t, docs, 2)
	kinds := []string{}
	for _, doc := range docs {
		doc = strings.Replace(doc, "database:\n", "database:\n  dsn: \"u:p@tcp(h:3306)/d\"\n", 1)
		c, err := config.Parse([]byte(doc+`proxmox:
  - {name: pve-main, url: "https://pve:8006", token_id: "u@pam!t", token_secret_env: PVE_TOKEN_SECRET}
  - {name: pve-backup, url: "https://pve2:8006", token_id: "u@pam!t", token_secret_env: PVE_TOKEN_SECRET}
`), "README.md")
		require.NoError(t, err, doc)
		kinds = append(kinds, c.Database.VMSource.Kind)
	}
	require.Equal(t, []string{"pvewhmcs", "mapped"}, kinds)

	// A source naming a proxmox server that is not configured is refused.
	_, err = config.Parse([]byte(`database: {dsn: "u:p@tcp(h:3306)/d", vm_source: {kind: pvewhmcs, pvewhmcs: {server: nowhere}}}
proxmox:
  - {name: pve-main, url: "https://pve:8006", token_id: "u@pam!t", token_secret_env: PVE_TOKEN_SECRET}
`), "x.yaml")
	require.ErrorContains(t, err, `database.vm_source names proxmox server "nowhere", which is not configured`)
}
