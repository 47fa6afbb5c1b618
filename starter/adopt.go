package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// progressOut receives adopt's progress lines (stderr; tests replace it).
var progressOut io.Writer = os.Stderr

// Adopt results.
const (
	adoptAdopted   = "adopted"
	adoptKnown     = "already_known"
	adoptAmbiguous = "ambiguous"
	adoptNotFound  = "not_found"
	adoptError     = "error"
)

// AdoptCandidate is a VM that matched a service. Field names are stable (README).
type AdoptCandidate struct {
	Server    string   `json:"server"`
	Node      string   `json:"node"`
	VMID      int      `json:"vmid"`
	Name      string   `json:"name"`
	MatchedBy []string `json:"matched_by"` // vmid (the VM source), name, ip, service_id (a tag or the description)
}

// AdoptResult is one service's outcome. Field names are stable (README).
type AdoptResult struct {
	ServiceID  int              `json:"service_id"`
	Result     string           `json:"result"` // adopted | already_known | ambiguous | not_found | error
	Server     string           `json:"server,omitempty"`
	Node       string           `json:"node,omitempty"`
	VMID       int              `json:"vmid,omitempty"`
	Name       string           `json:"name,omitempty"`
	UUID       string           `json:"uuid,omitempty"`
	MatchedBy  []string         `json:"matched_by,omitempty"`
	Candidates []AdoptCandidate `json:"candidates"`
	Reason     string           `json:"reason,omitempty"`
}

// AdoptJSON is `starter adopt --json`.
type AdoptJSON struct {
	DryRun       bool           `json:"dry_run"`
	Services     []AdoptResult  `json:"services"`
	Summary      map[string]int `json:"summary"` // adopted, already_known, ambiguous, not_found, error
	ProxmoxCalls int64          `json:"proxmox_calls"`
	Seconds      float64        `json:"seconds"`
}

// invVM is a VM of the cluster inventory.
type invVM struct {
	server string
	pve.ListedVM
	cfg pve.GuestConfig
}

func (v *invVM) key() string { return v.server + "/" + strconv.Itoa(v.VMID) }

// inventory is every KVM guest of every configured Proxmox server, with
// the config of each, indexed for the discovery rules.
type inventory struct {
	vms     []*invVM
	byVMID  map[string]*invVM // server/vmid
	byName  map[string][]*invVM
	byIP    map[netip.Addr][]*invVM
	bySvcID map[int][]*invVM
	calls   atomic.Int64
}

// serviceIDMark is how a tag or a description names a service id:
// whmcs-42, service-42, service_id=42, serviceid:42, sid42. Compiled on
// first use: only adopt reads it, and package init runs on every click.
var serviceIDMark = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b(?:whmcs|service|service_id|serviceid|sid)[-_=:# ]?([0-9]+)\b`)
})

func normName(s string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ".")) }

func (s *session) inventory(ctx context.Context, concurrency int) (*inventory, error) {
	clients, err := pve.NewAll(s.cfg.Proxmox, nil) // reads only: not in the module log, as plan
	if err != nil {
		return nil, err
	}
	inv := &inventory{byVMID: map[string]*invVM{}, byName: map[string][]*invVM{}, byIP: map[netip.Addr][]*invVM{}, bySvcID: map[int][]*invVM{}}
	names := make([]string, 0, len(clients))
	for n := range clients {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		inv.calls.Add(1)
		list, err := clients[n].ListVMs(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the VMs of proxmox server %s: %v", n, err)
		}
		for _, v := range list {
			if !v.Template {
				inv.vms = append(inv.vms, &invVM{server: n, ListedVM: v})
			}
		}
	}
	// Every VM's config, with bounded concurrency: the IP and description
	// rules need them, and a VM left unread could be the second candidate.
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	var done atomic.Int64
	total := len(inv.vms)
	step := max(total/10, 50)
	for _, v := range inv.vms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			for try := 0; try < 3; try++ {
				inv.calls.Add(1)
				if v.cfg, err = clients[v.server].GuestConfig(ctx, v.Node, v.VMID); err == nil || ctx.Err() != nil {
					break
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("read the config of VM %d on %s/%s: %v (nothing was written)", v.VMID, v.server, v.Node, err)
				}
				mu.Unlock()
			}
			if n := done.Add(1); n%int64(step) == 0 {
				fmt.Fprintf(progressOut, "adopt: read %d/%d VM configs\n", n, total)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	for _, v := range inv.vms {
		if v.cfg.Template {
			continue // a template is never a service's VM
		}
		inv.byVMID[v.key()] = v
		name := v.cfg.Name
		if name == "" {
			name = v.Name
		}
		if n := normName(name); n != "" {
			inv.byName[n] = append(inv.byName[n], v)
		}
		for _, ip := range v.cfg.IPs {
			ip = ip.Unmap().WithZone("")
			inv.byIP[ip] = appendOnce(inv.byIP[ip], v)
		}
		tags := append(append([]string{}, v.Tags...), v.cfg.Tags...)
		for _, text := range append(tags, v.cfg.Description) {
			for _, m := range serviceIDMark().FindAllStringSubmatch(text, -1) {
				if id, err := strconv.Atoi(m[1]); err == nil {
					inv.bySvcID[id] = appendOnce(inv.bySvcID[id], v)
				}
			}
		}
	}
	return inv, nil
}

func appendOnce(list []*invVM, v *invVM) []*invVM {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// adoptTask is one service to adopt, with what the database knows of it.
type adoptTask struct {
	hosting dbmodel.Hosting
	own     dbmodel.VMInfo
	hasOwn  bool
	loc     dbmodel.Location
	hasLoc  bool // the VM source names a location (own row or foreign row)
}

// adopt finds each active service's VM on the cluster and records server,
// node, vmid, name and uuid in our table. A VM is adopted only when exactly
// one candidate matches; --dry-run writes nothing.
func (s *session) adopt(ctx context.Context, o opts, out io.Writer) (int, error) {
	start := time.Now()
	tasks, err := s.adoptTasks(ctx, o)
	if err != nil {
		return exitError, err
	}
	inv, err := s.inventory(ctx, o.extra.concurrency)
	if err != nil {
		return exitError, err
	}
	claimed := map[string]int{} // server/vmid -> the service whose row names it
	if rows, err := s.store.OwnRows(ctx); err == nil {
		for _, r := range rows {
			if r.VMID > 0 && r.VMStatus != dbmodel.StatusRemove && (r.VMName != "" || r.VMUUID != "") {
				claimed[r.Server+"/"+strconv.Itoa(r.VMID)] = r.ServiceID
			}
		}
	} else {
		return exitError, err
	}
	// Matching is in memory and sequential (deterministic: the lowest
	// service id claims a VM first); the writes run concurrently.
	results := make([]AdoptResult, len(tasks))
	for i, t := range tasks {
		results[i] = match(t, inv, claimed)
		if results[i].Result == adoptAdopted {
			claimed[results[i].Server+"/"+strconv.Itoa(results[i].VMID)] = t.hosting.ID
		}
	}
	if !o.extra.dryRun {
		s.recordAdopted(ctx, tasks, results, o.extra.concurrency)
	}
	res := AdoptJSON{DryRun: o.extra.dryRun, Services: results, ProxmoxCalls: inv.calls.Load(), Seconds: time.Since(start).Seconds(),
		Summary: map[string]int{adoptAdopted: 0, adoptKnown: 0, adoptAmbiguous: 0, adoptNotFound: 0, adoptError: 0}}
	for _, r := range results {
		res.Summary[r.Result]++
	}
	code := exitOK
	if res.Summary[adoptError] > 0 || (!o.extra.all && len(results) == 1 && results[0].Result != adoptAdopted && results[0].Result != adoptKnown) {
		code = exitError
	}
	if o.extra.json {
		return code, writeJSON(out, res)
	}
	if !o.extra.all {
		line := adoptLine(results[0], o.extra.dryRun)
		if code != exitOK {
			return code, errors.New(line)
		}
		fmt.Fprintln(out, line)
		return code, nil
	}
	for _, r := range results {
		fmt.Fprintln(out, adoptLine(r, o.extra.dryRun))
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	verb := "adopted"
	if o.extra.dryRun {
		verb = "would adopt"
	}
	fmt.Fprintf(tw, "%s\t%d\n", verb, res.Summary[adoptAdopted])
	fmt.Fprintf(tw, "already known\t%d\n", res.Summary[adoptKnown])
	fmt.Fprintf(tw, "ambiguous\t%d\n", res.Summary[adoptAmbiguous])
	fmt.Fprintf(tw, "not found\t%d\n", res.Summary[adoptNotFound])
	if res.Summary[adoptError] > 0 {
		fmt.Fprintf(tw, "errors\t%d\n", res.Summary[adoptError])
	}
	fmt.Fprintf(tw, "proxmox calls\t%d\n", res.ProxmoxCalls)
	return code, tw.Flush()
}

// adoptTasks reads the services to adopt and what our table and the VM
// source know of each.
func (s *session) adoptTasks(ctx context.Context, o opts) ([]adoptTask, error) {
	var hostings []dbmodel.Hosting
	if o.extra.all {
		var err error
		if hostings, err = s.store.AdoptableServices(ctx); err != nil {
			return nil, err
		}
	} else {
		h, err := s.store.Hosting(ctx, o.serviceID)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(h.DomainStatus, "Active") && !strings.EqualFold(h.DomainStatus, "Suspended") {
			return nil, fmt.Errorf("service %d is %s in WHMCS: only Active and Suspended services are adopted", h.ID, h.DomainStatus)
		}
		hostings = []dbmodel.Hosting{h}
	}
	rows, err := s.store.OwnRows(ctx)
	if err != nil {
		return nil, err
	}
	foreign := s.cfg.Database.VMSource.Foreign()
	tasks := make([]adoptTask, 0, len(hostings))
	for _, h := range hostings {
		t := adoptTask{hosting: h}
		t.own, t.hasOwn = rows[h.ID]
		if foreign {
			loc, err := s.store.LoadLocation(ctx, h.ID)
			switch {
			case errors.Is(err, dbmodel.ErrNotKVM):
				if !o.extra.all {
					return nil, err
				}
				continue // not ours to terminate
			case errors.Is(err, dbmodel.ErrNotFound):
				if !o.extra.all {
					return nil, err
				}
				continue // another product: the module has no row for it
			case err != nil:
				return nil, err
			}
			t.loc, t.hasLoc = loc, loc.VMID > 0
		} else if t.hasOwn && t.own.VMID > 0 {
			t.loc = dbmodel.Location{Server: t.own.Server, Node: t.own.Node, VMID: t.own.VMID}
			t.hasLoc = true
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// match applies the rules to one service: the VM source's vmid when it has
// one, else the name, IP and service-id rules; exactly one candidate wins.
func match(t adoptTask, inv *inventory, claimed map[string]int) AdoptResult {
	id := t.hosting.ID
	r := AdoptResult{ServiceID: id, Candidates: []AdoptCandidate{}}
	if t.hasOwn && (t.own.VMName != "" || t.own.VMUUID != "") && (!t.hasLoc || t.own.VMID == t.loc.VMID) {
		r.Result, r.Server, r.Node, r.VMID, r.Name, r.UUID = adoptKnown, t.own.Server, t.own.Node, t.own.VMID, t.own.VMName, t.own.VMUUID
		return r
	}
	if t.hasOwn && t.own.VMStatus == dbmodel.StatusRemove {
		r.Result, r.Reason = adoptKnown, "vm_status=remove"
		return r
	}
	found := map[*invVM][]string{}
	var order []*invVM
	add := func(v *invVM, why string) {
		if _, ok := found[v]; !ok {
			order = append(order, v)
		}
		for _, w := range found[v] {
			if w == why {
				return
			}
		}
		found[v] = append(found[v], why)
	}
	if t.hasLoc {
		v, ok := inv.byVMID[t.loc.Server+"/"+strconv.Itoa(t.loc.VMID)]
		if !ok {
			r.Result = adoptNotFound
			r.Reason = fmt.Sprintf("the VM source names vmid %d on %s/%s, which the cluster does not list", t.loc.VMID, t.loc.Server, t.loc.Node)
			return r
		}
		add(v, "vmid")
	} else {
		var names []string
		for _, n := range []string{t.hosting.Domain, t.own.Hostname} {
			if n = normName(n); n != "" && !contains(names, n) {
				names = append(names, n)
			}
		}
		for _, n := range names {
			for _, v := range inv.byName[n] {
				add(v, "name")
			}
		}
		ips, _ := activities.ParseIPs(t.hosting.DedicatedIP, t.hosting.AssignedIPs, t.own.IPv4, t.own.IPv6)
		for _, ip := range ips {
			for _, v := range inv.byIP[netip.MustParseAddr(ip)] {
				add(v, "ip")
			}
		}
		for _, v := range inv.bySvcID[id] {
			add(v, "service_id")
		}
		if len(order) == 0 {
			r.Result = adoptNotFound
			r.Reason = fmt.Sprintf("no VM is named %s, has one of the IPs [%s] in an ipconfig, or names service %d in a tag or its description",
				quoteList(names), strings.Join(ips, " "), id)
			return r
		}
	}
	for _, v := range order {
		r.Candidates = append(r.Candidates, AdoptCandidate{Server: v.server, Node: v.Node, VMID: v.VMID, Name: vmName(v), MatchedBy: found[v]})
	}
	if len(order) > 1 {
		r.Result, r.Reason = adoptAmbiguous, fmt.Sprintf("%d candidates", len(order))
		return r
	}
	v := order[0]
	if other, ok := claimed[v.key()]; ok && other != id {
		r.Result, r.Reason = adoptAmbiguous, fmt.Sprintf("the only candidate already belongs to service %d", other)
		return r
	}
	r.Result, r.Server, r.Node, r.VMID, r.Name, r.UUID, r.MatchedBy = adoptAdopted, v.server, v.Node, v.VMID, vmName(v), v.cfg.UUID(), found[v]
	return r
}

func vmName(v *invVM) string {
	if v.cfg.Name != "" {
		return v.cfg.Name
	}
	return v.Name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return `""`
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, " or ")
}

// recordAdopted writes the adopted identities, with bounded concurrency.
// A failed write turns that service's result into an error.
func (s *session) recordAdopted(ctx context.Context, tasks []adoptTask, results []AdoptResult, concurrency int) {
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var done atomic.Int64
	total := 0
	for _, r := range results {
		if r.Result == adoptAdopted {
			total++
		}
	}
	step := max(total/10, 100)
	for i := range results {
		if results[i].Result != adoptAdopted {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, t := &results[i], tasks[i]
			ipv4, ipv6 := t.loc.IPv4, t.loc.IPv6
			if ipv4 == "" {
				ipv4 = t.hosting.DedicatedIP
			}
			err := s.store.RecordSnapshot(ctx, r.ServiceID, dbmodel.Snapshot{Server: r.Server, Node: r.Node, VMID: r.VMID,
				Name: r.Name, UUID: r.UUID, IPv4: ipv4, IPv6: ipv6, Hostname: t.hosting.Domain})
			if err != nil {
				r.Result, r.Reason = adoptError, oneLine(s.redact(err.Error()))
			}
			if n := done.Add(1); n%int64(step) == 0 {
				fmt.Fprintf(progressOut, "adopt: recorded %d/%d\n", n, total)
			}
		}()
	}
	wg.Wait()
}

// adoptLine is one service's line.
func adoptLine(r AdoptResult, dryRun bool) string {
	where := func(server, node string, vmid int, name string) string {
		return fmt.Sprintf("vmid %d %q on %s/%s", vmid, name, server, node)
	}
	var cands []string
	for _, c := range r.Candidates {
		cands = append(cands, fmt.Sprintf("%s (%s)", where(c.Server, c.Node, c.VMID, c.Name), strings.Join(c.MatchedBy, ", ")))
	}
	switch r.Result {
	case adoptAdopted:
		verb := "adopted"
		if dryRun {
			verb = "would adopt"
		}
		return fmt.Sprintf("service %d: %s %s (by %s)", r.ServiceID, verb, where(r.Server, r.Node, r.VMID, r.Name), strings.Join(r.MatchedBy, ", "))
	case adoptKnown:
		if r.Reason != "" {
			return fmt.Sprintf("service %d: already known (%s)", r.ServiceID, r.Reason)
		}
		return fmt.Sprintf("service %d: already known: %s", r.ServiceID, where(r.Server, r.Node, r.VMID, r.Name))
	case adoptAmbiguous:
		return fmt.Sprintf("service %d: ambiguous, %s: %s; nothing written", r.ServiceID, r.Reason, strings.Join(cands, "; "))
	case adoptNotFound:
		return fmt.Sprintf("service %d: not found: %s; nothing written", r.ServiceID, r.Reason)
	}
	return fmt.Sprintf("service %d: error: %s", r.ServiceID, r.Reason)
}
