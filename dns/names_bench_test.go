package dns_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
)

var namesSink any

// BenchmarkParseReverseName is the inverse of ReverseName.
func BenchmarkParseReverseName(b *testing.B) {
	for _, s := range []string{"192.168.130.6", "2001:db8:abcd:12::ff"} {
		name := dns.ReverseName(netip.MustParseAddr(s))
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				namesSink, _ = dns.ParseReverseName(name)
			}
		})
	}
}

// BenchmarkZoneSelection is Cleanup's per-target zone scan on a provider
// with 200 zones: every zone is matched against the FQDN and, for each
// address, checked as a reverse zone and matched against the reverse name.
func BenchmarkZoneSelection(b *testing.B) {
	var zones []string
	for i := 0; i < 100; i++ {
		zones = append(zones, fmt.Sprintf("customer%d.example.com", i), fmt.Sprintf("%d.168.192.in-addr.arpa", i))
	}
	zones = append(zones, "puqcloud.com", "0.3.1.0.8.b.d.0.1.0.0.2.ip6.arpa")
	fqdn := "5546-1776530141.puqcloud.com"
	ips := []netip.Addr{netip.MustParseAddr("192.168.130.6"), netip.MustParseAddr("2001:db8:130::6")}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, z := range zones {
			if dns.ZoneMatches(fqdn, z) {
				n++
			}
		}
		for _, ip := range ips {
			rn := dns.ReverseName(ip)
			for _, z := range zones {
				if _, bad := dns.ReverseZoneProblem(z, ip); bad {
					continue
				}
				if dns.ZoneMatches(rn, z) {
					n++
				}
			}
		}
		namesSink = n
	}
}
