//go:build !linux

package pdnstest

import "os/exec"

func setProcAttr(*exec.Cmd, bool) {}
