package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type pvePermissions struct {
	Source       string `json:"source"`
	SourceSHA256 string `json:"source_sha256"`
	Calls        []struct {
		Method      string `json:"method"`
		Path        string `json:"path"`
		Permissions struct {
			User        string `json:"user"`
			Description string `json:"description"`
			Check       []any  `json:"check"`
		} `json:"permissions"`
	} `json:"calls"`
}

func loadPermissions(t *testing.T) pvePermissions {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "deploy", "testdata", "pve-permissions.json"))
	require.NoError(t, err)
	var p pvePermissions
	require.NoError(t, json.Unmarshal(b, &p))
	require.NotEmpty(t, p.Calls)
	return p
}

func installDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "deploy", "INSTALL.md"))
	require.NoError(t, err)
	return string(b)
}

var apiRow = regexp.MustCompile("^\\| `(GET|POST|PUT|DELETE) /")

var privName = regexp.MustCompile(`\b(?:VM|Datastore|Sys|SDN|Pool|User|Group|Realm|Permissions|Mapping)\.[A-Z][A-Za-z.]*[A-Za-z]`)

// INSTALL.md's table has one row per Proxmox call, naming what the API
// schema's permissions name for it.
func TestInstallPrivilegeTableMatchesTheAPISchema(t *testing.T) {
	doc := installDoc(t)
	perms := loadPermissions(t)
	rows := map[string][]string{} // "GET /path" -> cells
	for _, l := range strings.Split(doc, "\n") {
		if !apiRow.MatchString(l) {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		call := strings.Trim(strings.TrimSpace(cells[0]), "`")
		call, _, _ = strings.Cut(call, "?")
		rows[call] = cells
	}
	for _, c := range perms.Calls {
		key := c.Method + " " + c.Path
		cells, ok := rows[key]
		require.True(t, ok, "INSTALL.md has no row for %s", key)
		require.Len(t, cells, 3, key)
		priv := cells[2]
		p := c.Permissions
		switch {
		case len(p.Check) > 0:
			require.Equal(t, "perm", p.Check[0], key)
			path := p.Check[1].(string)
			require.Contains(t, priv, "(`"+path+"`)", key)
			for _, want := range p.Check[2].([]any) {
				require.Contains(t, priv, "`"+want.(string)+"`", key)
			}
			if len(p.Check) > 3 && p.Check[3] == "any" {
				require.Contains(t, priv, " or ", "%s: any of the privileges", key)
			}
		case p.Description != "":
			names := privName.FindAllString(p.Description, -1)
			require.NotEmpty(t, names, key)
			for _, want := range names {
				require.Contains(t, priv, "`"+want+"`", "%s: %q", key, p.Description)
			}
		default:
			require.Equal(t, "all", p.User, key)
			require.Contains(t, priv, "none", key)
		}
	}
	require.Len(t, rows, len(perms.Calls), "a row per call, no more")

	// The roles grant every privilege a call checks outright, and only the
	// least set.
	var granted []string
	for _, m := range regexp.MustCompile(`pveum role add \S+\s+--privs "([^"]+)"`).FindAllStringSubmatch(doc, -1) {
		granted = append(granted, strings.Fields(m[1])...)
	}
	require.ElementsMatch(t, []string{"VM.Audit", "VM.PowerMgmt", "VM.Allocate", "VM.Backup", "Datastore.Audit", "Datastore.AllocateSpace"}, granted)
	for _, c := range perms.Calls {
		if len(c.Permissions.Check) > 0 && len(c.Permissions.Check) < 4 {
			for _, want := range c.Permissions.Check[2].([]any) {
				require.Contains(t, granted, want.(string), "%s %s", c.Method, c.Path)
			}
		}
	}
	require.Contains(t, doc, "pveum user token add terminate@pve worker --privsep 1")
}

// The extract is verbatim: where the schema itself is at hand (shared/ next
// to the repository, as on the development and CI machines), compare.
func TestPermissionsExtractIsVerbatim(t *testing.T) {
	perms := loadPermissions(t)
	src := filepath.Join(root, "..", "shared", "pve", "apidata.json")
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Logf("%s is not here (%v): the extract is checked against INSTALL.md only", src, err)
		return
	}
	sum := sha256.Sum256(raw)
	require.Equal(t, perms.SourceSHA256, hex.EncodeToString(sum[:]), "apidata.json changed: regenerate deploy/testdata/pve-permissions.json")
	type node struct {
		Path     string                     `json:"path"`
		Info     map[string]json.RawMessage `json:"info"`
		Children []node                     `json:"children"`
	}
	var tree []node
	require.NoError(t, json.Unmarshal(raw, &tree))
	found := map[string]json.RawMessage{}
	var walk func([]node)
	walk = func(ns []node) {
		for _, n := range ns {
			for m, info := range n.Info {
				var x struct {
					Permissions json.RawMessage `json:"permissions"`
				}
				require.NoError(t, json.Unmarshal(info, &x))
				found[m+" "+n.Path] = x.Permissions
			}
			walk(n.Children)
		}
	}
	walk(tree)
	b, err := os.ReadFile(filepath.Join(root, "deploy", "testdata", "pve-permissions.json"))
	require.NoError(t, err)
	var extract struct {
		Calls []struct {
			Method      string          `json:"method"`
			Path        string          `json:"path"`
			Permissions json.RawMessage `json:"permissions"`
		} `json:"calls"`
	}
	require.NoError(t, json.Unmarshal(b, &extract))
	for _, c := range extract.Calls {
		want, ok := found[c.Method+" "+c.Path]
		require.True(t, ok, "%s %s is not in the API schema", c.Method, c.Path)
		require.JSONEq(t, string(want), string(c.Permissions), "%s %s", c.Method, c.Path)
	}
}

// The guide names what the files define.
func TestInstallGuideCoversTheDeployment(t *testing.T) {
	doc := installDoc(t)
	for name, typ := range searchAttributes {
		require.Contains(t, doc, "`"+name+"` ("+typ+")")
	}
	for _, v := range uniq(requiredVar.FindAllStringSubmatch(composeText(t), -1)) {
		require.Contains(t, doc, "`"+v+"`", "INSTALL.md explains %s", v)
	}
	for _, s := range []string{"--scale worker=", "fingerprint", "ca_file", "pvenode cert info", "openssl x509 -noout -fingerprint -sha256",
		"TEMPORAL_BIND", "escapeshellarg", "proc_open", "logModuleCall"} {
		require.Contains(t, doc, s)
	}
	// Every repository path it names exists.
	paths := regexp.MustCompile("`(deploy/[A-Za-z0-9_./@-]+|docker-compose\\.yml|Dockerfile|config\\.example\\.yaml)`").FindAllStringSubmatch(doc, -1)
	require.NotEmpty(t, paths)
	var seen []string
	for _, m := range paths {
		p := strings.TrimSuffix(m[1], "/")
		if slices.Contains(seen, p) {
			continue
		}
		seen = append(seen, p)
		_, err := os.Stat(filepath.Join(root, p))
		require.NoError(t, err, "INSTALL.md names %s", p)
	}
	// The images it names are the compose file's.
	for _, img := range []string{"postgres:15", "temporalio/server:1.29.1", "temporalio/admin-tools:1.29.1-tctl-1.18.4-cli-1.5.0", "temporalio/ui:2.49.1"} {
		require.Contains(t, doc, img)
		require.Contains(t, composeText(t), "image: "+img)
	}
}
