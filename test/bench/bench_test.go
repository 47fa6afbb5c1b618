package bench

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func readPacket(t *testing.T, r io.Reader) (byte, []byte) {
	t.Helper()
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(r, hdr); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return hdr[3], b
}

// A fake server speaks just enough of the protocol: a greeting, an OK to
// the handshake response, PREPARE_OK (statement id 7) to prepares and OK to
// everything else.
func TestSQLProxyCountsCommandsByStatement(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(packet(0, []byte{10, 'f', 'a', 'k', 'e', 0}))
		hdr := make([]byte, 4)
		for {
			if _, err := io.ReadFull(c, hdr); err != nil {
				return
			}
			n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
			b := make([]byte, n)
			if _, err := io.ReadFull(c, b); err != nil {
				return
			}
			switch {
			case hdr[3] == 1: // handshake response
				c.Write(packet(2, []byte{0, 0, 0, 2, 0, 0, 0}))
			case b[0] == comStmtPrepare:
				ok := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
				binary.LittleEndian.PutUint32(ok[1:5], 7)
				c.Write(packet(1, ok))
			case b[0] == comStmtClose || b[0] == comQuit:
			default:
				time.Sleep(2 * time.Millisecond)
				c.Write(packet(1, []byte{0, 0, 0, 2, 0, 0, 0}))
			}
		}
	}()
	p, err := StartSQLProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readPacket(t, c)                                        // greeting
	c.Write(packet(1, []byte("handshake response, seq 1"))) // not a command
	readPacket(t, c)
	cmd := func(b ...byte) { c.Write(packet(0, b)); readPacket(t, c) }
	cmd(append([]byte{comQuery}, "START TRANSACTION"...)...)
	cmd(append([]byte{comStmtPrepare}, "INSERT INTO `tblmodulelog` (`date`) VALUES (?)"...)...)
	cmd(comStmtExecute, 7, 0, 0, 0, 0, 1, 0, 0, 0)
	cmd(comStmtExecute, 7, 0, 0, 0, 0, 1, 0, 0, 0)
	c.Write(packet(0, []byte{comStmtClose, 7, 0, 0, 0}))
	cmd(append([]byte{comQuery}, "  SELECT * FROM `tblhosting` WHERE id = 1"...)...)
	cmd(comPing)

	var s SQLCounts
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s = p.Snapshot(); s.RoundTrips == 6 {
			break
		}
	}
	if s.Statements != 4 || s.Prepares != 1 || s.RoundTrips != 6 {
		t.Fatalf("statements %d prepares %d round trips %d, want 4 1 6: %+v", s.Statements, s.Prepares, s.RoundTrips, s.ByKind)
	}
	want := map[string]int{"START": 1, "INSERT tblmodulelog": 2, "SELECT tblhosting": 1}
	for k, v := range want {
		if s.ByKind[k] != v {
			t.Errorf("%s: %d, want %d (%v)", k, s.ByKind[k], v, s.ByKind)
		}
	}
	if m := s.MeanWaitMs()["SELECT tblhosting"]; m < 1 {
		t.Errorf("SELECT wait %.2f ms, want the fake server's 2 ms", m)
	}
	if d := s.Sub(s); d.Statements != 0 || len(d.ByKind) != 0 {
		t.Errorf("s - s = %+v", d)
	}
}

func TestClassify(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT * FROM `tblhosting` WHERE id = ? LIMIT 1":               "SELECT tblhosting",
		"INSERT INTO `tblmodulelog` (`date`,`module`) VALUES (?,?)":     "INSERT tblmodulelog",
		"UPDATE `puqProxmoxKVM_vm_info` SET `vm_status`=? WHERE id = ?": "UPDATE puqProxmoxKVM_vm_info",
		"/* c */ delete from x_y where 1":                               "DELETE x_y",
		"START TRANSACTION":                                             "START",
		"commit":                                                        "COMMIT",
		"SELECT VERSION()":                                              "SELECT",
		"":                                                              "?",
	} {
		if got := Classify(q); got != want {
			t.Errorf("Classify(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for p, want := range map[float64]float64{50: 5, 90: 9, 99: 10, 100: 10, 0: 1} {
		if got := Percentile(xs, p); got != want {
			t.Errorf("p%.0f = %v, want %v", p, got, want)
		}
	}
	if xs[0] != 5 {
		t.Error("Percentile sorted its input")
	}
	if Percentile(nil, 50) != 0 || Mean(nil) != 0 || Max(nil) != 0 {
		t.Error("empty input")
	}
	if median([]float64{3, 1, 2, 4}) != 2.5 {
		t.Error("median of an even count")
	}
}

func TestClassifyPVE(t *testing.T) {
	for _, c := range []struct {
		method, path, node string
		heavy              bool
	}{
		{"POST", "/api2/json/nodes/pve1/qemu/100/status/shutdown", "pve1", true},
		{"POST", "/api2/json/nodes/pve2/qemu/100/status/stop", "pve2", true},
		{"DELETE", "/api2/json/nodes/pve1/qemu/100", "pve1", true},
		{"DELETE", "/api2/json/nodes/pve1/storage/local/content/x", "pve1", false},
		{"GET", "/api2/json/nodes/pve1/qemu/100/status/current", "pve1", false},
		{"GET", "/api2/json/cluster/resources", "", false},
	} {
		node, heavy := classifyPVE(c.method, c.path)
		if node != c.node || heavy != c.heavy {
			t.Errorf("%s %s: %q %v, want %q %v", c.method, c.path, node, heavy, c.node, c.heavy)
		}
	}
}

func TestApplySets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("proxmox:\n  - name: a\n    url: x\ntiming:\n  stop_poll: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := applySets(path, []string{"proxmox.0.node_limit=8", "worker.reconcile_disabled=true", "timing.stop_poll=2s"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, want := range []string{"node_limit: 8", "reconcile_disabled: true", "stop_poll: 2s", "name: a"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("missing %q in\n%s", want, b)
		}
	}
	if err := applySets(path, []string{"proxmox.3.x=1"}); err == nil {
		t.Error("an index out of range was accepted")
	}
	if err := applySets(path, []string{"novalue"}); err == nil {
		t.Error("a set without = was accepted")
	}
}

func TestParseProm(t *testing.T) {
	in := `# HELP persistence_latency x
persistence_latency_bucket{operation="A",le="0.1"} 3
persistence_latency_sum{operation="A",service_name="history"} 0.5
persistence_latency_sum{operation="B"} 1.5
persistence_latency_count{operation="A"} 10
persistence_latency_count{operation="B"} 20
dd_shard_io_semaphore_latency_sum 0.25
`
	p := parseProm(strings.NewReader(in))
	if p["persistence_latency_sum"] != 2 || p["persistence_latency_count"] != 30 || p["persistence_latency_sum|B"] != 1.5 {
		t.Fatalf("%v", p)
	}
	ts := temporalStats(p.sub(promSample{"persistence_latency_count": 10}))
	if ts.PersistenceRequests != 20 || ts.PersistenceMeanMs != 100 || ts.TopPersistenceOps["B"] != 1.5 || ts.ShardIOSemaphoreS != 0.25 {
		t.Fatalf("%+v", ts)
	}
}

func TestReverse48(t *testing.T) {
	if got := reverse48(0x14); got != "4.1.0.0." {
		t.Errorf("reverse48(0x14) = %q", got)
	}
}

func TestCPUPerRun(t *testing.T) {
	cpu := map[string]float64{procTemporal: 15, procWorker: 5.4, procPDNS: 3.8, procMariaDB: 1.9}
	got := cpuPerRun(cpu, 100)
	want := map[string]float64{procTemporal: 0.15, procWorker: 0.054, procPDNS: 0.038, procMariaDB: 0.019, serverPlusWorker: 0.204}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
	if cpu[serverPlusWorker] != 0 {
		t.Error("cpuPerRun changed its input")
	}
	if got := cpuPerRun(map[string]float64{procPDNS: 1}, 4); got[procPDNS] != 0.25 || len(got) != 1 {
		t.Errorf("without the server and the worker: %v, want only %s", got, procPDNS)
	}
	if cpuPerRun(cpu, 0) != nil {
		t.Error("no successful run: want nil")
	}
}

func TestCostTargets(t *testing.T) {
	target := func(r *Report, name string) Target {
		for _, tg := range r.Targets {
			if tg.Name == name {
				return tg
			}
		}
		t.Fatalf("no target %q in %+v", name, r.Targets)
		return Target{}
	}
	for _, c := range []struct {
		serverWorker, starterCPU float64
		events                   int
		met                      bool
	}{{0.099, 14.9, 30, true}, {0.101, 15.1, 31, false}} {
		r := &Report{Starter: StarterResult{CPUMsP50: c.starterCPU}, Fleets: []FleetResult{
			{N: 100, HistoryEventsMax: c.events, CPUSPerRun: map[string]float64{serverPlusWorker: 1}},
			{N: 1000, HistoryEventsMax: c.events, CPUSPerRun: map[string]float64{serverPlusWorker: c.serverWorker, procTemporal: c.serverWorker / 2, procWorker: c.serverWorker / 2}},
		}}
		r.summarize(Options{})
		require.Equal(t, c.met, target(r, "server + worker CPU").Met, "the largest fleet decides: %+v", c)
		require.Equal(t, c.met, target(r, "starter CPU").Met, "%+v", c)
		require.Equal(t, c.met, target(r, "history events").Met, "%+v", c)
	}
}
