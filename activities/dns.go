package activities

import (
	"context"
	"net/netip"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// DNSResult is the outcome of every record the DNS phase touched.
type DNSResult struct {
	Results []dns.Result    `json:"results"`
	Errors  []string        `json:"errors"`
	Lines   []pipeline.Line `json:"lines"`
}

// DeleteDNS removes the VM's forward A/AAAA records (its domain) and reverse
// PTR records (each IP) in every matching zone of every provider. Per-zone
// and per-IP failures are lines, never errors: DNS never blocks termination.
func (a *Activities) DeleteDNS(ctx context.Context, t pipeline.Target) (DNSResult, error) {
	ctx, l, end := a.beginPhase(ctx, t, pipeline.PhaseDNS)
	defer end()
	res := DNSResult{Results: []dns.Result{}, Errors: []string{}}
	l.add("deleting DNS records")
	target := dns.Target{FQDN: t.Domain}
	for _, s := range t.IPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			target.IPs = append(target.IPs, ip)
		}
	}
	if len(a.DNS) == 0 {
		l.add("no DNS provider configured")
	}
	leftovers := 0
	for _, r := range dns.Cleanup(ctx, a.DNS, target) {
		r.Reason = a.Secrets.Redact(r.Reason)
		res.Results = append(res.Results, r)
		line := r.Line()
		if r.Op == dns.OpForward && r.RecordType != "" && r.Status != dns.StatusFail {
			line += " (" + r.RecordType + ")" // A and AAAA would otherwise print the same line
		}
		l.add("%s", line)
		if r.Status == dns.StatusFail {
			res.Errors = append(res.Errors, line)
			leftovers++
		}
	}
	metrics(ctx).Counter("terminate_dns_leftovers_total").Inc(int64(leftovers))
	l.add("DNS records done")
	res.Lines = l.list
	return res, nil
}
