package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// plan prints what a termination would stop, delete and clear, reading
// Proxmox, the DNS providers and the database and changing nothing (not
// even the module log).
func (s *session) plan(ctx context.Context, o opts, out io.Writer) (int, error) {
	svc, err := s.store.LoadService(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	vm, h := svc.VM, svc.Hosting
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("plan for service %d (nothing is changed)", o.serviceID)
	p("database: vm_status=%s, attempt %d if started now", vm.VMStatus, vm.TerminateAttempts+1)
	if vm.VMStatus == dbmodel.StatusRemove {
		p("refused: the VM row is already 'remove'")
		return exitError, fmt.Errorf("service %d is already removed", o.serviceID)
	}
	clients, err := pve.NewAll(s.cfg.Proxmox, nil)
	if err != nil {
		return exitError, err
	}
	c, ok := clients[vm.Server]
	if !ok {
		return exitError, fmt.Errorf("proxmox server %q of the VM row is not configured", vm.Server)
	}
	t := pipeline.Target{ServiceID: o.serviceID, Server: vm.Server, Node: vm.Node, VMID: vm.VMID, VMName: vm.VMName, VMUUID: vm.VMUUID, Domain: h.Domain}
	t.IPs, _ = activities.ParseIPs(h.DedicatedIP, h.AssignedIPs, vm.IPv4, vm.IPv6)

	// Proxmox.
	cfg, cerr := c.VMConfig(ctx, vm.Node, vm.VMID)
	switch {
	case pve.IsMissingVM(cerr):
		p("proxmox: no VM %d on %s/%s; DELETE would check /cluster/resources and count it deleted if no node lists it", vm.VMID, vm.Server, vm.Node)
	case cerr != nil:
		p("proxmox: cannot read VM %d on %s/%s: %v", vm.VMID, vm.Server, vm.Node, cerr)
	default:
		if msg := activities.IdentityMismatch(t, cfg); msg != "" {
			p("proxmox: REFUSED — %s", msg)
		} else {
			st, err := c.VMStatus(ctx, vm.Node, vm.VMID)
			status := "unknown"
			if err == nil {
				status = st.Status
				if st.QMPStatus != "" && st.QMPStatus != st.Status {
					status += " (" + st.QMPStatus + ")"
				}
			}
			p("proxmox: VM %d %q on %s/%s, %s; identity matches the record", vm.VMID, cfg.Name, vm.Server, vm.Node, status)
			if status != "stopped" {
				p("stop: graceful shutdown, poll every %s up to %s; then a hard stop and %s more", s.cfg.Timing.StopPoll, s.cfg.Timing.StopWindow, s.cfg.Timing.ForceWindow)
			}
			// The stop phases run first, so only what survives them counts.
			if why, _ := activities.DeleteRefusal(vm.VMID, cfg, false); why != "" {
				p("delete: Proxmox will REFUSE: %s (the run would end in error_terminate, keeping backups and DNS)", why)
			}
			if cfg.Lock != "" {
				p("delete: the VM is locked (%s): DELETE waits within its retries", cfg.Lock)
			}
			p("delete: DELETE /nodes/%s/qemu/%d?purge=1&destroy-unreferenced-disks=1", vm.Node, vm.VMID)
		}
	}
	backups, listErrs, err := c.VMBackups(ctx, vm.Node, vm.VMID)
	if err != nil {
		p("backups: cannot list storages: %v", err)
	}
	for _, e := range listErrs {
		p("backups: cannot list %v", e)
	}
	for _, b := range backups {
		if b.Protected {
			p("backup: keep (protected) %s", b.VolID)
		} else {
			p("backup: delete %s", b.VolID)
		}
	}
	if len(backups) == 0 && err == nil {
		p("backups: none")
	}

	// DNS.
	providers, err := dns.Build(s.cfg.DNS, nil)
	if err != nil {
		return exitError, err
	}
	target := dns.Target{FQDN: h.Domain}
	for _, ip := range t.IPs {
		target.IPs = append(target.IPs, netip.MustParseAddr(ip))
	}
	if len(providers) == 0 {
		p("dns: no provider configured")
	}
	for _, r := range dns.Plan(ctx, providers, target) {
		p("dns: %s", r.Line())
	}

	// Database.
	p("database on success: tblhosting.dedicatedip %q -> \"\", assignedips %q -> \"\", domain %q -> \"\"",
		h.DedicatedIP, strings.TrimSpace(h.AssignedIPs), h.Domain)
	p("database on success: VM row server/node/vmid/vm_name/vm_uuid/ipv4/ipv6/hostname cleared, vm_status -> remove, one activity-log entry %q", dbmodel.SuccessText)
	p("database on failure: vm_status -> error_terminate, one activity-log entry %q, nothing else", dbmodel.FailurePref+"<reason>")
	return exitOK, nil
}
