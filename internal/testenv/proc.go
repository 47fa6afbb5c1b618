package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a child process the environment starts, kills and restarts: the
// worker binary, the file-backed dev server. Its output goes to Out or, if
// Log is set, is appended to that file through a pipe (as under systemd:
// the worker syncs stdout after every line, which on a regular file would
// be an fsync each).
type Proc struct {
	Name  string
	Path  string
	Args  []string
	Env   []string  // added to the environment
	Only  bool      // Env is the whole environment: nothing is inherited
	Log   string    // file the output is appended to
	Out   io.Writer // the output when Log is empty; default io.Discard
	Err   io.Writer // stderr apart from the rest of the output, when set
	Group bool      // own process group: a terminal's Ctrl-C does not reach it

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the process; it is an error while it still runs.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running", p.Name)
		}
	}
	cmd := exec.Command(p.Path, p.Args...)
	switch {
	case p.Only:
		cmd.Env = append([]string{}, p.Env...)
	case len(p.Env) > 0:
		cmd.Env = append(os.Environ(), p.Env...)
	}
	var f *os.File
	switch {
	case p.Log != "":
		var err error
		if f, err = os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(f, "\n==== %s started at %s ====\n", p.Name, time.Now().UTC().Format(time.RFC3339Nano))
		cmd.Stdout, cmd.Stderr = struct{ io.Writer }{f}, struct{ io.Writer }{f}
	case p.Out != nil:
		cmd.Stdout, cmd.Stderr = p.Out, p.Out
	}
	if p.Err != nil {
		cmd.Stderr = p.Err
	}
	setProcAttr(cmd, p.Group)
	if err := cmd.Start(); err != nil {
		if f != nil {
			f.Close()
		}
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		if f != nil {
			f.Close()
		}
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed when the current process exits (nil before Start).
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Pid is the current process's id (0 before Start).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop sends sig and waits up to grace for the exit, then SIGKILLs.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Kill is SIGKILL: no cleanup, no goodbye to Temporal.
func (p *Proc) Kill() { p.Stop(syscall.SIGKILL, 10*time.Second) }

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as "127.0.0.1:port".
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// Port is FreePort for a test: an error fails t.
func Port(t testing.TB) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Addr is FreeAddr for a test: an error fails t.
func Addr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(Port(t))
}

// WaitPort waits until host:port accepts connections.
func WaitPort(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Buffer is a bytes.Buffer safe for one writer goroutine per child process
// and readers in the test; Limit > 0 drops what comes after Limit bytes.
type Buffer struct {
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Limit > 0 && s.b.Len() > s.Limit {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ExitCode is the exit code behind the error of a command's Run, Output or
// CombinedOutput: 0 for nil, the code of an *exec.ExitError (-1 for a
// signal). Any other error (the command did not start) is returned.
func ExitCode(err error) (int, error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}

// Run runs cmd to its end and returns its exit code (see ExitCode) and
// what it wrote on stdout and on stderr.
func Run(cmd *exec.Cmd) (code int, stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code, err = ExitCode(cmd.Run())
	return code, out.String(), errb.String(), err
}
