package faultmatrix

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

var payloadData = regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]+)"`)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// A full termination with known secrets configured, then the workflow
// history (as JSON), the logs and every database row are searched for them:
// zero hits.
func TestNoSecretAnywhere(t *testing.T) { // not parallel: t.Setenv
	dbPass := "FmDbPass" + randomHex(8)
	wrongDNSKey := "fm-env-dns-key-" + randomHex(8)
	t.Setenv("FM_WRONG_DNS_KEY", wrongDNSKey)
	e := newEnv(t, envOpts{binWorker: true, dbUser: "fm_" + randomHex(4) + ":" + dbPass, wrongKeyEnv: "FM_WRONG_DNS_KEY"})
	secrets := map[string]string{
		"proxmox token secret": stack.TokenSecret,
		"PowerDNS API key":     e.pdns.APIKey,
		"wrong DNS key (env)":  wrongDNSKey,
		"MariaDB password":     dbPass,
	}

	ok := e.seed(nil)
	refused := e.seed(func(s *pvesim.VMSpec) { s.Protection = true })
	var starterOut strings.Builder
	for _, c := range []struct {
		v    vm
		code int
	}{{ok, 0}, {refused, 3}} {
		code, out, errOut := e.starter("terminate", "--service-id", fmt.Sprint(c.v.id), "--follow")
		require.Equal(t, c.code, code, out+errOut)
		starterOut.WriteString(out + errOut)
		_, out, errOut = e.starter("status", "--service-id", fmt.Sprint(c.v.id))
		starterOut.WriteString(out + errOut)
	}
	// A refused command's error path too.
	_, out, errOut := e.starter("reset", "--service-id", fmt.Sprint(ok.id), "--to", "ready")
	starterOut.WriteString(out + errOut)

	// The wrong key was used and refused: the error paths ran.
	require.Contains(t, e.actionErrors(ok), "[pdns-wrongkey]")

	// The worker writes its module log in the background and the rest of
	// it when it stops: stopped, every row and line it wrote is searched.
	e.worker.Stop(syscall.SIGTERM, 15*time.Second)
	require.Contains(t, e.out.String(), "Stopped Worker", "the worker stopped without its shutdown")
	corpora := map[string]string{
		"starter output": starterOut.String(),
		"worker output":  e.out.String(),
	}
	ctx := context.Background()
	var hist strings.Builder
	for _, v := range []vm{ok, refused} {
		it := e.tc.GetWorkflowHistory(ctx, pipeline.WorkflowID(v.id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		n := 0
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			b, err := protojson.Marshal(ev)
			require.NoError(t, err)
			hist.Write(b)
			hist.WriteByte('\n')
			// protojson writes payloads (inputs, results, heartbeat details,
			// failure details) as base64: search their decoded text too.
			for _, m := range payloadData.FindAllSubmatch(b, -1) {
				if dec, err := base64.StdEncoding.DecodeString(string(m[1])); err == nil {
					hist.Write(dec)
					hist.WriteByte('\n')
				}
			}
			n++
		}
		require.Greater(t, n, 10)
	}
	corpora["workflow histories"] = hist.String()
	require.Contains(t, corpora["workflow histories"], `"vm_name":"`+ok.fqdn+`"`, "payloads are decoded")
	for _, table := range []string{"tblmodulelog", "tblactivitylog", "tblhosting", e.store.Config().VMTable, e.store.Config().ActionLogTable} {
		var rows []map[string]any
		require.NoError(t, e.store.DB().Table(table).Find(&rows).Error)
		require.NotEmpty(t, rows, table)
		var b strings.Builder
		for _, r := range rows {
			for k, v := range r {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%s=%v\n", k, v)
			}
		}
		corpora["table "+table] = b.String()
	}
	require.Greater(t, strings.Count(corpora["table tblmodulelog"], "action=proxmox "), 5)
	require.Greater(t, strings.Count(corpora["table tblmodulelog"], "action=dns "), 2)
	require.Contains(t, corpora["worker output"], "VM deleted")

	for what, secret := range secrets {
		for where, text := range corpora {
			require.Equal(t, 0, strings.Count(text, secret), "the %s appears in the %s", what, where)
		}
	}
}

// wrongKeyProvider is a second PowerDNS provider whose (wrong) key comes
// from the environment.
func wrongKeyProvider(url, env string) dns.ProviderConfig {
	return dns.ProviderConfig{Kind: "powerdns", Name: "pdns-wrongkey", URL: url, APIKeyEnv: env}
}
