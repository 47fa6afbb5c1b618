package pdnstest

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill pdns_server if the test process dies
// without calling Stop.
func setProcAttr(cmd *exec.Cmd, group bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: group}
}
