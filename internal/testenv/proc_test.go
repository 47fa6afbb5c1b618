package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcStartsKillsAndRestarts(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sleep.log")
	p := &Proc{Name: "sleep", Path: "sh", Args: []string{"-c", "echo up; exec sleep 60"}, Log: log}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if !p.Running() || p.Pid() == 0 {
		t.Fatal("not running after Start")
	}
	waitLog(t, log, 1)
	if err := p.Start(); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("a second Start while running: %v", err)
	}
	p.Kill()
	if p.Running() {
		t.Fatal("running after Kill")
	}
	if err := p.Start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitLog(t, log, 2)
	p.Stop(syscall.SIGTERM, 5*time.Second)
	if p.Running() {
		t.Fatal("running after Stop")
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "up\n"); got != 2 {
		t.Fatalf("the log holds both runs' output, got %d:\n%s", got, b)
	}
	if got := strings.Count(string(b), "==== sleep started at"); got != 2 {
		t.Fatalf("one header per start, got %d:\n%s", got, b)
	}
}

// waitLog waits until the log holds n lines "up".
func waitLog(t *testing.T, log string, n int) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(log); strings.Count(string(b), "up\n") >= n {
			return
		}
	}
	t.Fatalf("the log never held %d start-ups", n)
}

func TestBufferStopsAtItsLimit(t *testing.T) {
	b := &Buffer{Limit: 4}
	for _, s := range []string{"abc", "de", "fgh"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if b.String() != "abcde" {
		t.Fatalf("got %q: writes after the limit are dropped", b.String())
	}
}

func TestFreeAddrIsClosed(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("not loopback: %s", addr)
	}
}

func TestRunReportsTheExitCodeAndBothStreams(t *testing.T) {
	code, out, errOut, err := Run(exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	if err != nil || code != 3 || out != "out\n" || errOut != "err\n" {
		t.Fatalf("Run: %d %q %q %v", code, out, errOut, err)
	}
	if code, _, _, err := Run(exec.Command("true")); err != nil || code != 0 {
		t.Fatalf("Run true: %d %v", code, err)
	}
	if _, _, _, err := Run(exec.Command(filepath.Join(t.TempDir(), "missing"))); err == nil {
		t.Fatal("Run of a missing command: no error")
	}
}

func TestProcEnvIsAddedUnlessOnly(t *testing.T) {
	t.Setenv("PT_INHERITED", "yes")
	for _, only := range []bool{false, true} {
		var out Buffer
		p := &Proc{Name: "env", Path: "env", Env: []string{"PT_OWN=1"}, Only: only, Out: &out}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		<-p.Done()
		got := out.String()
		if !strings.Contains(got, "PT_OWN=1\n") || strings.Contains(got, "PT_INHERITED=yes") != !only {
			t.Fatalf("Only=%t: the environment is\n%s", only, got)
		}
		if only && got != "PT_OWN=1\n" {
			t.Fatalf("Only: more than Env:\n%s", got)
		}
	}
}

func TestProcErrSeparatesStderr(t *testing.T) {
	var out, errOut Buffer
	p := &Proc{Name: "sh", Path: "sh", Args: []string{"-c", "echo out; echo err >&2"}, Out: &out, Err: &errOut}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if out.String() != "out\n" || errOut.String() != "err\n" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
	}
}
