package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

type ctxKey struct{}

// withService marks ctx with the service being terminated, so the module
// log can say which service each API call belongs to.
func withService(ctx context.Context, serviceID int) context.Context {
	return context.WithValue(ctx, ctxKey{}, serviceID)
}

func serviceOf(ctx context.Context) int {
	id, _ := ctx.Value(ctxKey{}).(int)
	return id
}

// ModuleLog writes one tblmodulelog row per Proxmox and DNS call, with
// every configured secret redacted. With a Writer (the worker) the rows are
// queued and written in batches in the background, so no call waits for
// the database; without one (the starter, a short-lived command) each row
// is written before the call returns.
type ModuleLog struct {
	Store   *dbmodel.Store
	Secrets Redactor
	Writer  *ModuleLogWriter
}

// PVEObserver writes one tblmodulelog row per Proxmox call.
func (a ModuleLog) PVEObserver() pve.Observer {
	return func(ctx context.Context, c pve.Call) {
		action := fmt.Sprintf("proxmox %s %s", c.Method, c.Path)
		a.writeModuleLog(ctx, action, c.Request, c.Response, map[string]any{
			"service_id": serviceOf(ctx), "server": c.Server, "status": c.Status,
			"duration_ms": c.Duration.Milliseconds(), "error": c.Err,
		})
	}
}

// DNSObserver writes one tblmodulelog row per DNS provider call.
func (a ModuleLog) DNSObserver() dns.Observer {
	return func(c dns.Call) {
		action := fmt.Sprintf("dns %s %s %s", c.Provider, c.Method, c.URL)
		a.writeModuleLog(context.Background(), action, c.Request, c.Response, map[string]any{
			"provider": c.Provider, "status": c.Status, "error": c.Err,
		})
	}
}

func (a ModuleLog) writeModuleLog(ctx context.Context, action, req, resp string, arr map[string]any) {
	if a.Store == nil && a.Writer == nil {
		return
	}
	for k, v := range arr {
		if s, ok := v.(string); ok {
			arr[k] = a.Secrets.Redact(s)
		}
	}
	e := dbmodel.ModuleLogEntry{At: time.Now().UTC(), Action: a.Secrets.Redact(action),
		Request: a.Secrets.Redact(req), Response: a.Secrets.Redact(resp), Arr: arr}
	if a.Writer != nil {
		a.Writer.Add(e)
		return
	}
	// The module log is diagnostics: a failed write must not fail the call it describes.
	if err := a.Store.WriteModuleLogBatch(context.WithoutCancel(ctx), []dbmodel.ModuleLogEntry{e}); err != nil {
		slog.Warn("module log write failed", "error", err)
	}
}
