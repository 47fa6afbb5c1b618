package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// loadForClick is LoadService for the click. With a foreign VM source a
// service may have no identity snapshot yet (never adopted): then the VM
// the other module's table names is read on Proxmox and its name and
// smbios1 uuid are recorded in our table before anything acts on it, so
// that every later phase checks against what was there at the click.
func (s *session) loadForClick(ctx context.Context, serviceID int) (dbmodel.Service, error) {
	svc, err := s.store.LoadService(ctx, serviceID)
	if !errors.Is(err, dbmodel.ErrNoSnapshot) {
		return svc, err
	}
	loc, err := s.store.LoadLocation(ctx, serviceID)
	if err != nil {
		return svc, err
	}
	if loc.VMID <= 0 || loc.Node == "" || loc.Server == "" {
		return svc, fmt.Errorf("service %d: its VM source row has no vmid/node/server (vmid=%d node=%q server=%q)", serviceID, loc.VMID, loc.Node, loc.Server)
	}
	c, err := s.pveClient(serviceID, loc.Server)
	if err != nil {
		return svc, err
	}
	sctx, cancel := context.WithTimeout(ctx, s.shutdownTimeout())
	defer cancel()
	cfg, err := c.VMConfig(sctx, loc.Node, loc.VMID)
	if err != nil {
		return svc, fmt.Errorf("service %d: cannot read VM %d on %s/%s to record its identity (nothing was changed): %v", serviceID, loc.VMID, loc.Server, loc.Node, err)
	}
	if msg := activities.IdentityMismatch(pipeline.Target{Node: loc.Node, VMID: loc.VMID, VMName: loc.Name, VMUUID: loc.UUID}, cfg); msg != "" {
		return svc, fmt.Errorf("service %d: %s", serviceID, msg)
	}
	if cfg.Name == "" && cfg.UUID() == "" {
		return svc, fmt.Errorf("service %d: VM %d on %s/%s has neither a name nor an smbios1 uuid: nothing to recognise it by later; refusing", serviceID, loc.VMID, loc.Server, loc.Node)
	}
	if err := s.store.RecordSnapshot(ctx, serviceID, dbmodel.Snapshot{Server: loc.Server, Node: loc.Node, VMID: loc.VMID,
		Name: cfg.Name, UUID: cfg.UUID(), IPv4: loc.IPv4, IPv6: loc.IPv6}); err != nil {
		return svc, err
	}
	return s.store.LoadService(ctx, serviceID)
}
