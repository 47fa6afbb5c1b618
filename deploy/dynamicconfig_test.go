package deploy

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// TestDynamicConfigAppliesTheServerSettings: compose and make cluster run
// the server with deploy/temporal/dynamicconfig/docker.yaml; the dev
// servers of the demo, the tests and the bench with pipeline.DevServerArgs.
// Both carry pipeline.ServerSettings, so what make bench measures is what
// the deployment runs.
func TestDynamicConfigAppliesTheServerSettings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy", "temporal", "dynamicconfig", "docker.yaml"))
	require.NoError(t, err)
	var dc map[string][]struct {
		Value       any            `yaml:"value"`
		Constraints map[string]any `yaml:"constraints"`
	}
	require.NoError(t, yaml.Unmarshal(b, &dc))
	require.NotEmpty(t, pipeline.ServerSettings)
	args := pipeline.DevServerArgs()
	for k, v := range pipeline.ServerSettings {
		require.Len(t, dc[k], 1, "%s in docker.yaml", k)
		require.Empty(t, dc[k][0].Constraints, "%s applies to every namespace", k)
		want, err := strconv.ParseBool(v)
		require.NoError(t, err)
		require.Equal(t, want, dc[k][0].Value, k)
		require.Contains(t, args, k+"="+v, "dev server flags")
	}
}
