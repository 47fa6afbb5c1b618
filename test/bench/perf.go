package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// perfRec is `perf record` attached to a process (Options.PerfDir), so that
// where the CPU goes is measured, not guessed. perf must be installed and
// kernel.perf_event_paranoid <= 2 (user-space samples of our own processes).
type perfRec struct {
	proc *testenv.Proc
	data string
	once sync.Once
}

func perfAvailable() bool {
	_, err := exec.LookPath("perf")
	return err == nil
}

// startPerf samples pid at 199 Hz with call graphs into dir/name.data.
func startPerf(dir, name string, pid int) (*perfRec, error) {
	data := filepath.Join(dir, name+".data")
	p := &perfRec{data: data, proc: &testenv.Proc{Name: "perf", Path: "perf", Group: true,
		Args: []string{"record", "-q", "-F", "199", "-g", "-o", data, "-p", fmt.Sprint(pid)}}}
	if err := p.proc.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// stop ends the recording and writes the flat profile next to it
// (name.txt). It may be called more than once.
func (p *perfRec) stop() {
	p.once.Do(func() {
		p.proc.Stop(syscall.SIGINT, 20*time.Second)
		perfReport(p.data)
	})
}

// perfReport writes a flat (self time) and a cumulative (children) profile
// of a perf data file into data-minus-extension.txt.
func perfReport(data string) {
	var b strings.Builder
	for _, args := range [][]string{
		{"report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.7", "--sort", "dso,symbol", "-g", "none"},
		{"report", "-i", data, "--stdio", "--children", "--percent-limit", "3", "--sort", "symbol", "-g", "none"},
	} {
		out, err := exec.Command("perf", args...).Output()
		if err != nil {
			fmt.Fprintf(&b, "perf %s: %v\n", strings.Join(args, " "), err)
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "#") && !strings.Contains(line, "Samples") && !strings.Contains(line, "Overhead") {
				continue
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	_ = os.WriteFile(strings.TrimSuffix(data, ".data")+".txt", []byte(b.String()), 0o644)
}
