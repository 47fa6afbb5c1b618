package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startDemo runs the built demo and returns it with a channel of its
// stdout lines.
func startDemo(t *testing.T, hold bool) (*exec.Cmd, <-chan string) {
	t.Helper()
	cli, err := testenv.TemporalCLI()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--temporal", cli, "--dir", filepath.Join(t.TempDir(), "demo")}
	if hold {
		args = append(args, "--hold")
	}
	cmd := exec.Command(testenv.Binary(t, "cmd/demo"), args...)
	cmd.Dir = testenv.RepoRoot()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines
}

// waitLine waits for a line holding want, failing after a generous bound
// (a cold build cache or a loaded machine is slow; this is no timing test).
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the demo ended before printing %q", want)
			}
			t.Log(l)
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no line %q", want)
		}
	}
}

// descendants lists every live process below pid (from /proc).
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := ppid(p); ok {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// ppid reads a live (not zombie) process's parent.
func ppid(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+4 >= len(s) {
		return 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

func alive(pid int) bool {
	_, ok := ppid(pid)
	return ok
}

// stopAndCheck sends sig, waits for the demo to exit and checks that
// nothing it started is left running.
func stopAndCheck(t *testing.T, cmd *exec.Cmd, sig stopSignal, wantCode int) {
	t.Helper()
	kids := descendants(cmd.Process.Pid)
	if len(kids) == 0 {
		t.Fatal("the demo has no child processes to stop (dev server, PowerDNS)")
	}
	if err := cmd.Process.Signal(sig.sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the demo did not exit after %s", sig.name)
	}
	if got := cmd.ProcessState.ExitCode(); got != wantCode {
		t.Errorf("exit code %d after %s, want %d", got, sig.name, wantCode)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var left []int
		for _, p := range kids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes the demo started still run after it exited on %s: %v", sig.name, left)
		}
	}
}

// stopSignal is a signal the demo stops on, with its name.
type stopSignal struct {
	name string
	sig  syscall.Signal
}

// stopSignals are the signals the demo stops on: SIGINT is Ctrl-C.
var stopSignals = []stopSignal{{"SIGINT", syscall.SIGINT}, {"SIGTERM", syscall.SIGTERM}}

// A stop signal stops everything the demo started: while it holds the
// stack the demo exits 0, mid-run (the worker still terminating) 1.
func TestSIGINTAndSIGTERMStopEverything(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold bool
		line string // the line after which the signal is sent
		code int
	}{
		{"WhileHolding", true, "holding:", 0},
		{"MidRun", false, "worker running", 1},
	} {
		for _, sig := range stopSignals {
			t.Run(tc.name+"/"+sig.name, func(t *testing.T) {
				cmd, lines := startDemo(t, tc.hold)
				waitLine(t, lines, tc.line)
				stopAndCheck(t, cmd, sig, tc.code)
			})
		}
	}
}
