package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// BenchmarkAdoptAll2000 measures `starter adopt --all --dry-run` over 2,000
// services and 2,000 VMs on the simulator (MariaDB, --concurrency 8), with
// no added latency and with 20 ms on every Proxmox call: seconds and
// Proxmox calls per pass.
//
//	TEMPORAL_CLI=… go test -run '^$' -bench AdoptAll2000 -benchtime 3x ./starter/
func BenchmarkAdoptAll2000(b *testing.B) {
	const n = 2000
	store, dbcfg := testenv.NewDatabase(b)
	st, err := stack.Start(stack.Options{Dir: b.TempDir(), DB: dbcfg, TemporalHost: "127.0.0.1:1", TaskQueue: "adopt-bench",
		Fixture: stack.Cluster(), NoWorker: true})
	require.NoError(b, err)
	b.Cleanup(st.Stop)
	for i := range n {
		id, name, ip := 10000+i, fmt.Sprintf("bench-%d.example.com", i), fmt.Sprintf("10.2.%d.%d", i/250, i%250+1)
		require.NoError(b, whmcsschema.InsertService(store.DB(), whmcsschema.Service{ID: id, UserID: 7, Domain: name, DedicatedIP: ip}))
		spec := pvesim.VMSpec{Node: []string{"pve1", "pve2"}[i%2], VMID: 5000 + i, Name: name, Status: "stopped"}
		if i%4 == 0 {
			spec.Name = fmt.Sprintf("renamed-%d", i) // found by its IP instead
			spec.Config = map[string]string{"ipconfig0": "ip=" + ip + "/24"}
		}
		require.NoError(b, st.Sim.AddVM(spec))
	}
	progressOut = &bytes.Buffer{}
	b.Cleanup(func() { progressOut = nil })
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run("latency="+latency.String(), func(b *testing.B) {
			st.Sim.ClearFaults()
			if latency > 0 {
				st.Sim.SetFault(pvesim.Fault{Kind: pvesim.FaultLatency, Delay: latency}) // every call, as a remote cluster
			}
			var calls int64
			for b.Loop() {
				var out, errOut bytes.Buffer
				code := run([]string{"adopt", "--all", "--dry-run", "--json", "--config", st.ConfigPath}, &out, &errOut)
				require.Equal(b, exitOK, code, errOut.String())
				var res AdoptJSON
				require.NoError(b, json.Unmarshal(out.Bytes(), &res))
				require.Equal(b, n, res.Summary[adoptAdopted])
				calls += res.ProxmoxCalls
			}
			b.ReportMetric(float64(calls)/float64(b.N), "proxmox_calls/op")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
		})
	}
	st.Sim.ClearFaults()
}
