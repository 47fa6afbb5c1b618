package chaos

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill a child (worker, dev server) if the
// harness dies without stopping it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
