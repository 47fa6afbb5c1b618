package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// adoptWorld is a simulated cluster of 257 VMs and the services that
// should (or should not) find theirs.
type adoptWorld struct {
	st     *stack.Stack
	store  *dbmodel.Store
	want   map[int]string // service id -> expected result
	wantVM map[int]int    // adopted service id -> vmid
	vms    int            // VMs on the cluster
}

func newAdoptWorld(t *testing.T) *adoptWorld {
	t.Helper()
	store, dbcfg := testenv.NewDatabase(t)
	st := offlineStack(t, dbcfg, "adopt")
	w := &adoptWorld{st: st, store: store, want: map[int]string{}, wantVM: map[int]int{}}
	svc := func(id int, domain, ip4, assigned, status string) {
		require.NoError(t, whmcsschema.InsertService(store.DB(), whmcsschema.Service{ID: id, UserID: 7, Domain: domain, DedicatedIP: ip4, AssignedIPs: assigned, Status: status}))
	}
	vmid := 3000
	vm := func(spec pvesim.VMSpec) int {
		vmid++
		spec.VMID, spec.Status = vmid, "stopped"
		if spec.Node == "" {
			spec.Node = []string{"pve1", "pve2"}[vmid%2]
		}
		require.NoError(t, st.Sim.AddVM(spec))
		return vmid
	}
	adopted := func(id, v int) { w.want[id], w.wantVM[id] = adoptAdopted, v }
	// 200 found by name; every tenth also by its IP in ipconfig0.
	for i := range 200 {
		id, name, ip := 1000+i, fmt.Sprintf("svc-%d.example.com", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		svc(id, name, ip, "", "")
		spec := pvesim.VMSpec{Name: name}
		if i%10 == 0 {
			spec.Config = map[string]string{"ipconfig0": "ip=" + ip + "/24,gw=10.1.0.254"}
		}
		adopted(id, vm(spec))
	}
	// Found by IPv4 only, and IPv6-only services found by ip6 in ipconfig1.
	for i := range 10 {
		id, ip := 1300+i, fmt.Sprintf("198.51.100.%d", i+1)
		svc(id, fmt.Sprintf("v4only-%d.example.net", i), ip, "", "")
		adopted(id, vm(pvesim.VMSpec{Name: fmt.Sprintf("cust-%d", i), Config: map[string]string{"ipconfig0": "ip=" + ip + "/24"}}))
		id6, ip6 := 1400+i, fmt.Sprintf("2001:db8:6::%x", i+1)
		svc(id6, fmt.Sprintf("v6only-%d.example.net", i), "", ip6+"\n", "")
		adopted(id6, vm(pvesim.VMSpec{Name: fmt.Sprintf("six-%d", i), Config: map[string]string{"ipconfig0": "ip=dhcp", "ipconfig1": "ip6=" + ip6 + "/64,gw6=2001:db8:6::1"}}))
	}
	// Found by a tag, or by the description.
	for i := range 5 {
		id := 1500 + i
		svc(id, fmt.Sprintf("tagged-%d.example.org", i), "", "", "Suspended")
		adopted(id, vm(pvesim.VMSpec{Name: fmt.Sprintf("box-%d", i), Tags: []string{"customer", "whmcs-" + strconv.Itoa(id)}}))
		id2 := 1550 + i
		svc(id2, fmt.Sprintf("described-%d.example.org", i), "", "", "")
		adopted(id2, vm(pvesim.VMSpec{Name: fmt.Sprintf("crate-%d", i), Config: map[string]string{"description": fmt.Sprintf("ordered via WHMCS, service_id=%d", id2)}}))
	}
	// Ambiguous: a reused name (the old VM was never deleted), and a name
	// pointing at one VM while the IP is on another.
	for i := range 5 {
		id, name := 1600+i, fmt.Sprintf("reused-%d.example.com", i)
		svc(id, name, "", "", "")
		vm(pvesim.VMSpec{Name: name})
		vm(pvesim.VMSpec{Name: name})
		w.want[id] = adoptAmbiguous
		id2, name2, ip := 1650+i, fmt.Sprintf("split-%d.example.com", i), fmt.Sprintf("203.0.113.%d", i+1)
		svc(id2, name2, ip, "", "")
		vm(pvesim.VMSpec{Name: name2})
		vm(pvesim.VMSpec{Name: "other-" + strconv.Itoa(i), Config: map[string]string{"ipconfig0": "ip=" + ip + "/24"}})
		w.want[id2] = adoptAmbiguous
	}
	// Unmatched: no VM at all, or only a template of that name.
	for i := range 10 {
		id := 1700 + i
		svc(id, fmt.Sprintf("nothing-%d.example.com", i), fmt.Sprintf("192.0.2.%d", i+100), "", "")
		w.want[id] = adoptNotFound
		if i == 0 {
			vm(pvesim.VMSpec{Name: fmt.Sprintf("nothing-%d.example.com", i), Config: map[string]string{"template": "1"}})
		}
	}
	// Already known: rows with an identity.
	for i := range 5 {
		id, name := 1800+i, fmt.Sprintf("known-%d.example.com", i)
		svc(id, name, "", "", "")
		v := vm(pvesim.VMSpec{Name: name})
		require.NoError(t, store.InsertVM(context.Background(), dbmodel.VMInfo{ServiceID: id, VMStatus: "ready", Server: stack.ServerName, Node: []string{"pve1", "pve2"}[v%2], VMID: v, VMName: name}))
		w.want[id] = adoptKnown
	}
	// A terminated service is not adopted even though its VM still exists.
	svc(1900, "gone.example.com", "", "", "Terminated")
	vm(pvesim.VMSpec{Name: "gone.example.com"})
	w.vms = vmid - 3000
	require.GreaterOrEqual(t, w.vms, 200)
	return w
}

func (w *adoptWorld) starter(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(append(args, "--config", w.st.ConfigPath), &out, &errOut)
	return code, out.String(), errOut.String()
}

// every table's CHECKSUM: what "writes nothing" means.
func dbChecksums(t *testing.T, s *dbmodel.Store) map[string]int64 {
	t.Helper()
	var tables []string
	require.NoError(t, s.DB().Raw("SHOW TABLES").Scan(&tables).Error)
	out := map[string]int64{}
	for _, tb := range tables {
		var row struct {
			Table    string
			Checksum int64
		}
		require.NoError(t, s.DB().Raw("CHECKSUM TABLE `"+tb+"`").Scan(&row).Error)
		out[tb] = row.Checksum
	}
	return out
}

// adopt --all over a simulated cluster of 257 VMs: exactly-one-candidate
// adoption by vmid, name, IPv4, IPv6, tag and description; reused names
// and split matches ambiguous; the unmatched reported; --dry-run writes
// nothing; a second run finds everything already known.
func TestAdoptAllOverASimulatedCluster(t *testing.T) {
	w := newAdoptWorld(t)
	var progress bytes.Buffer
	progressOut = &progress
	t.Cleanup(func() { progressOut = nil })

	before := dbChecksums(t, w.store)
	code, out, errOut := w.starter("adopt", "--all", "--dry-run", "--json")
	require.Equal(t, exitOK, code, errOut)
	var res AdoptJSON
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.True(t, res.DryRun)
	require.Equal(t, before, dbChecksums(t, w.store), "--dry-run writes nothing")
	got := map[int]string{}
	for _, r := range res.Services {
		got[r.ServiceID] = r.Result
		if vmid, ok := w.wantVM[r.ServiceID]; ok {
			require.Equal(t, vmid, r.VMID, "service %d", r.ServiceID)
		}
		if r.Result == adoptAmbiguous {
			require.Len(t, r.Candidates, 2, "service %d", r.ServiceID)
		}
	}
	require.Equal(t, w.want, got)
	require.Equal(t, map[string]int{adoptAdopted: 230, adoptKnown: 5, adoptAmbiguous: 10, adoptNotFound: 10, adoptError: 0}, res.Summary)
	require.EqualValues(t, 1+w.vms, res.ProxmoxCalls, "one list and one config per VM (templates too)")
	require.Contains(t, progress.String(), "adopt: read ", "progress on stderr")

	code, out, errOut = w.starter("adopt", "--all")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "service 1400: adopted vmid ")
	require.Contains(t, out, "(by ip)")
	require.Contains(t, out, "service 1600: ambiguous, 2 candidates: ")
	require.Contains(t, out, "service 1700: not found: no VM is named \"nothing-0.example.com\", has one of the IPs [192.0.2.100]")
	require.Regexp(t, `(?m)^adopted\s+230$`, out)
	require.Regexp(t, `(?m)^already known\s+5$`, out)
	require.Regexp(t, `(?m)^ambiguous\s+10$`, out)
	require.Regexp(t, `(?m)^not found\s+10$`, out)
	ctx := context.Background()
	for id, vmid := range w.wantVM {
		svc, err := w.store.LoadService(ctx, id)
		require.NoError(t, err, id)
		state, ok := w.st.Sim.VM(svc.VM.Node, vmid)
		require.True(t, ok, "service %d: vmid %d on %s", id, vmid, svc.VM.Node)
		require.Equal(t, [3]any{vmid, state.Name, stack.ServerName}, [3]any{svc.VM.VMID, svc.VM.VMName, svc.VM.Server})
		require.NotEmpty(t, svc.VM.VMUUID)
		require.Contains(t, strings.ToLower(state.SMBIOS1), svc.VM.VMUUID)
	}
	for _, id := range []int{1600, 1650, 1700, 1900} {
		_, ok, err := w.store.OwnRow(ctx, id)
		require.NoError(t, err)
		require.False(t, ok, "service %d: nothing written", id)
	}

	code, out, errOut = w.starter("adopt", "--all", "--json")
	require.Equal(t, exitOK, code, errOut)
	res = AdoptJSON{}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, 235, res.Summary[adoptKnown], "a second run finds every adopted VM known")

	code, out, _ = w.starter("list", "--json", "--vm-status", "ready")
	require.Equal(t, exitOK, code)
	var list ListJSON
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list.Rows, 235)
}

// adopt --service-id: one line, and for an ambiguous or unmatched service
// an error listing the candidates with nothing written.
func TestAdoptOneService(t *testing.T) {
	w := newAdoptWorld(t)
	progressOut = &bytes.Buffer{}
	t.Cleanup(func() { progressOut = nil })
	before := dbChecksums(t, w.store)
	code, out, errOut := w.starter("adopt", "--service-id", "1600")
	require.Equal(t, exitError, code)
	require.Empty(t, out)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	require.Regexp(t, `^error: service 1600: ambiguous, 2 candidates: vmid \d+ "reused-0.example.com" on pve-sim/pve\d \(name\); vmid \d+ "reused-0.example.com" on pve-sim/pve\d \(name\); nothing written\n$`, errOut)
	code, _, errOut = w.starter("adopt", "--service-id", "1900")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "service 1900 is Terminated in WHMCS")
	require.Equal(t, before, dbChecksums(t, w.store))

	code, out, errOut = w.starter("adopt", "--service-id", "1300", "--dry-run")
	require.Equal(t, exitOK, code, errOut)
	require.Regexp(t, `^service 1300: would adopt vmid \d+ "cust-0" on pve-sim/pve\d \(by ip\)\n$`, out)
	require.Equal(t, before, dbChecksums(t, w.store))
	code, out, errOut = w.starter("adopt", "--service-id", "1300")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "service 1300: adopted vmid ")

	for _, bad := range [][]string{{"adopt"}, {"adopt", "--all", "--service-id", "5"}, {"adopt", "--all", "--to", "x"}, {"list", "--service-id", "5"}, {"terminate", "--service-id", "5", "--dry-run"}} {
		var o, e bytes.Buffer
		require.Equal(t, exitUsage, run(bad, &o, &e), bad)
	}
}

// With the pvewhmcs source adopt takes the module's vmid, records the
// identity snapshot in our table only, and skips lxc guests and services
// the module does not know.
func TestAdoptWithPVEWHMCSSource(t *testing.T) {
	plain, dbcfg := testenv.NewDatabase(t)
	sc := sourceCases()["pvewhmcs"]
	sc.create(t, plain)
	for _, v := range []whmcsschema.PVEWHMCSVM{
		{ServiceID: 61, VMID: 4601, NodeID: 1, UserID: 7, VType: "qemu", IPAddress: "192.0.2.61"},
		{ServiceID: 62, VMID: 4602, NodeID: 1, UserID: 7, VType: "qemu", IPAddress: "192.0.2.62"}, // not on the cluster
		{ServiceID: 63, VMID: 4603, NodeID: 1, UserID: 7, VType: "lxc", IPAddress: "192.0.2.63"},
	} {
		require.NoError(t, whmcsschema.InsertPVEWHMCSVM(plain.DB(), v))
	}
	for _, id := range []int{61, 62, 63, 64} {
		require.NoError(t, whmcsschema.InsertService(plain.DB(), whmcsschema.Service{ID: id, UserID: 7, Domain: fmt.Sprintf("pw-%d.example.com", id)}))
	}
	dbcfg.VMSource = sc.source
	st := offlineStack(t, dbcfg, "adopt-pw")
	require.NoError(t, st.Sim.AddVM(pvesim.VMSpec{Node: "pve1", VMID: 4601, Name: "some-other-name", Status: "running"}))
	require.NoError(t, st.Sim.AddVM(pvesim.VMSpec{Node: "pve2", VMID: 4700, Name: "pw-62.example.com", Status: "running"}))
	progressOut = &bytes.Buffer{}
	t.Cleanup(func() { progressOut = nil })
	before := sc.digests(t, plain)

	var out, errOut bytes.Buffer
	require.Equal(t, exitOK, run([]string{"adopt", "--all", "--json", "--config", st.ConfigPath}, &out, &errOut), errOut.String())
	var res AdoptJSON
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	got := map[int]AdoptResult{}
	for _, r := range res.Services {
		got[r.ServiceID] = r
	}
	require.Len(t, got, 2, "the lxc guest and the unknown service are not considered")
	require.Equal(t, adoptAdopted, got[61].Result)
	require.Equal(t, []string{"vmid"}, got[61].MatchedBy, "the module's vmid, whatever the name")
	require.Equal(t, adoptNotFound, got[62].Result, "the module's word on the vmid is not overruled by a name")
	require.Contains(t, got[62].Reason, "names vmid 4602")
	svc, err := st.Deps.Store.LoadService(context.Background(), 61)
	require.NoError(t, err)
	require.Equal(t, [3]any{4601, "some-other-name", "pve1"}, [3]any{svc.VM.VMID, svc.VM.VMName, svc.VM.Node})
	require.Equal(t, before, sc.digests(t, plain), "the module's tables are only read")

	out.Reset()
	errOut.Reset()
	require.Equal(t, exitError, run([]string{"adopt", "--service-id", "63", "--config", st.ConfigPath}, &out, &errOut))
	require.Contains(t, errOut.String(), "LXC container")
}
