package activities

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// checkIdentity verifies that the VM at (node, vmid) is the one the record
// describes: its name, and its smbios1 uuid when the record holds one.
// Proxmox hands a freed vmid to the next VM created, so a vmid alone never
// proves anything. missing is true when the node has no such VM.
func (a *Activities) checkIdentity(ctx context.Context, c *pve.Client, t pipeline.Target) (missing bool, err error) {
	cfg, err := c.VMConfig(ctx, t.Node, t.VMID)
	if pve.IsMissingVM(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if msg := IdentityMismatch(t, cfg); msg != "" {
		return false, temporal.NewNonRetryableApplicationError(msg, pipeline.ErrIdentityMismatch, nil)
	}
	return false, nil
}

// IdentityMismatch returns why cfg is not the VM of t, or "".
func IdentityMismatch(t pipeline.Target, cfg pve.VMConfig) string {
	nameOK := t.VMName == "" || SameVMName(cfg.Name, t.VMName)
	uuidOK := t.VMUUID == "" || strings.EqualFold(cfg.UUID(), t.VMUUID)
	if nameOK && uuidOK {
		return ""
	}
	return fmt.Sprintf("identity mismatch at %s/%d: the record describes %s, Proxmox has %s; touching nothing",
		t.Node, t.VMID, describeIdentity(t.VMName, t.VMUUID), describeIdentity(cfg.Name, cfg.UUID()))
}

// SameVMName is the one rule for comparing a VM's name on Proxmox with the
// name on the record: case-insensitive, a trailing dot ignored (names are
// often FQDNs, written with or without the root dot).
func SameVMName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

func describeIdentity(name, uuid string) string {
	s := fmt.Sprintf("name %q", name)
	if uuid != "" {
		s += " uuid " + uuid
	}
	return s
}
