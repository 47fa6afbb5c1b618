package testenv

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill a child if the process that started it
// dies without stopping it.
func setProcAttr(cmd *exec.Cmd, group bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: group}
}
