package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ on Linux (100 on every mainstream architecture).
const clockTicks = 100

// ProcStat is what /proc says about one process.
type ProcStat struct {
	PID     int     `json:"pid"`
	CPUSecs float64 `json:"cpu_s"`   // user + system
	RSSKB   int     `json:"rss_kb"`  // VmRSS
	HWMKB   int     `json:"peak_kb"` // VmHWM: peak resident set
}

// ReadProc reads /proc/PID/stat and /proc/PID/status. ok is false when the
// process is gone.
func ReadProc(pid int) (ProcStat, bool) {
	st := ProcStat{PID: pid}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return st, false
	}
	// Fields after the command (which may contain spaces) start after ") ".
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		// f[0] is field 3 (state); utime and stime are fields 14 and 15.
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			k, _ := strconv.ParseFloat(f[12], 64)
			st.CPUSecs = (u + k) / clockTicks
		}
	}
	if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			switch k {
			case "VmRSS":
				st.RSSKB = n
			case "VmHWM":
				st.HWMKB = n
			}
		}
	}
	return st, true
}

// FindProcs returns the pids whose command name (/proc/PID/comm) is name,
// optionally only the children of parent (0: any).
func FindProcs(name string, parent int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		if parent != 0 {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			s := string(b)
			i := strings.LastIndexByte(s, ')')
			f := strings.Fields(s[i+1:])
			if len(f) < 2 || f[1] != strconv.Itoa(parent) {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// Names of the processes whose CPU a fleet measures (the keys of cpu_s).
const (
	procWorker   = "worker"
	procTemporal = "temporal"
	procBench    = "bench (simulator, launcher, proxies)"
	procPDNS     = "pdns_server"
	procMariaDB  = "mariadbd (shared)"
	// serverPlusWorker is the key of cpu_s_per_run that sums the Temporal
	// server's and the worker's CPU: what a run costs on the Temporal side.
	serverPlusWorker = "server_plus_worker"
)

// cpuPerRun divides each process's CPU seconds by runs (a fleet's
// successful runs) and adds serverPlusWorker when both the Temporal server
// and the worker were measured. It is nil without a successful run.
func cpuPerRun(cpu map[string]float64, runs int) map[string]float64 {
	if runs <= 0 || len(cpu) == 0 {
		return nil
	}
	out := make(map[string]float64, len(cpu)+1)
	for k, v := range cpu {
		out[k] = round4(v / float64(runs))
	}
	t, okT := cpu[procTemporal]
	w, okW := cpu[procWorker]
	if okT && okW {
		out[serverPlusWorker] = round4((t + w) / float64(runs))
	}
	return out
}

// CPUMeter measures the CPU seconds a set of processes use between Start
// and Stop.
type CPUMeter struct {
	pids  map[string]int
	start map[string]float64
}

// NewCPUMeter names the processes to watch.
func NewCPUMeter(pids map[string]int) *CPUMeter {
	m := &CPUMeter{pids: pids, start: map[string]float64{}}
	for k, pid := range pids {
		if st, ok := ReadProc(pid); ok {
			m.start[k] = st.CPUSecs
		}
	}
	return m
}

// Used returns CPU seconds per process since NewCPUMeter.
func (m *CPUMeter) Used() map[string]float64 {
	out := map[string]float64{}
	for k, pid := range m.pids {
		if st, ok := ReadProc(pid); ok {
			out[k] = round2(st.CPUSecs - m.start[k])
		}
	}
	return out
}

// machineCPU returns the CPU seconds all processes used (busy) and the
// seconds the CPUs were idle, since boot, from /proc/stat.
func machineCPU() (busy, idle float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	v := make([]float64, len(f))
	for i := 1; i < len(f); i++ {
		v[i], _ = strconv.ParseFloat(f[i], 64)
	}
	// user nice system idle iowait irq softirq steal
	busy = v[1] + v[2] + v[3] + v[6] + v[7]
	if len(f) > 8 {
		busy += v[8]
	}
	return busy / clockTicks, (v[4] + v[5]) / clockTicks
}

// loadAvg1 is the 1-minute load average.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
