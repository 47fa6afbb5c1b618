package dns_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
)

func TestReverseName(t *testing.T) {
	const v6doc = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
	cases := []struct{ ip, want string }{
		{"192.168.130.6", "6.130.168.192.in-addr.arpa."},
		{"0.0.0.0", "0.0.0.0.in-addr.arpa."},
		{"255.255.255.255", "255.255.255.255.in-addr.arpa."},
		{"10.0.0.1", "1.0.0.10.in-addr.arpa."},
		// IPv6: compressed, full and upper-case spellings give the same name.
		{"2001:db8::10", v6doc},
		{"2001:0db8:0000:0000:0000:0000:0000:0010", v6doc},
		{"2001:DB8:0:0::10", v6doc},
		{"2001:db8::10%eth0", v6doc}, // a zone index is not part of the address
		{"::", strings.Repeat("0.", 32) + "ip6.arpa."},
		{"2001:db8:abcd:12::ff", "f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.1.0.0.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa."},
		// IPv4-mapped IPv6 addresses are IPv4 addresses.
		{"::ffff:192.0.2.1", "1.2.0.192.in-addr.arpa."},
		{"::ffff:c000:0201", "1.2.0.192.in-addr.arpa."},
	}
	for _, c := range cases {
		got := dns.ReverseName(netip.MustParseAddr(c.ip))
		if got != c.want {
			t.Errorf("ReverseName(%s) = %q, want %q", c.ip, got, c.want)
		}
		back, ok := dns.ParseReverseName(got)
		if !ok || back != netip.MustParseAddr(c.ip).Unmap().WithZone("") {
			t.Errorf("ParseReverseName(%q) = %v %v", got, back, ok)
		}
	}
	if got := dns.ReverseName(netip.Addr{}); got != "" {
		t.Errorf("zero Addr: %q", got)
	}
}

func TestParseReverseNameRejects(t *testing.T) {
	for _, n := range []string{
		"", "in-addr.arpa", "2.0.192.in-addr.arpa", "1.2.3.4.5.in-addr.arpa", "01.2.0.192.in-addr.arpa",
		"256.2.0.192.in-addr.arpa", "-1.2.0.192.in-addr.arpa", "a.2.0.192.in-addr.arpa", "0/26.2.0.192.in-addr.arpa",
		"1.2.0.192.in-addr.arpa..", strings.Repeat("0.", 31) + "ip6.arpa", strings.Repeat("0.", 33) + "ip6.arpa",
		strings.Repeat("0.", 31) + "g.ip6.arpa", strings.Repeat("0.", 31) + "10.ip6.arpa", "example.com",
	} {
		if ip, ok := dns.ParseReverseName(n); ok {
			t.Errorf("ParseReverseName(%q) = %v, want rejection", n, ip)
		}
	}
	if ip, ok := dns.ParseReverseName("6.130.168.192.IN-ADDR.ARPA"); !ok || ip.String() != "192.168.130.6" {
		t.Errorf("upper case, no dot: %v %v", ip, ok)
	}
}

func TestZoneMatches(t *testing.T) {
	cases := []struct {
		name, zone string
		want       bool
	}{
		{"vm.example.com", "example.com", true},
		{"example.com", "example.com", true},
		{"vm.example.com.", "example.com", true},
		{"vm.example.com", "example.com.", true},
		{"VM.Example.COM", "example.com", true},
		{"vm.example.com", "EXAMPLE.com.", true},
		{"5546-1776530141.puqcloud.com", "puqcloud.com", true},
		{"a.b.c.example.com", "c.example.com", true},
		{"vm.example.com", "com", true},
		{"notexample.com", "example.com", false}, // label boundary
		{"example.com", "vm.example.com", false}, // zone longer than name
		{"vm.example.org", "example.com", false},
		{"vm.example.com", "", false},
		{"vm.example.com", ".", false},
		{"", "example.com", false},
		{"vm..example.com", "example.com", false}, // empty label
		{"vm.example.com..", "example.com", false},
		{"vm.example.com", "example.com..", false},
		{".example.com", "example.com", false},
		// Reverse names.
		{"6.130.168.192.in-addr.arpa.", "130.168.192.in-addr.arpa", true},
		{"6.130.168.192.in-addr.arpa.", "168.192.in-addr.arpa.", true},
		{"6.130.168.192.in-addr.arpa.", "6.130.168.192.in-addr.arpa", true},
		{"6.130.168.192.in-addr.arpa.", "30.168.192.in-addr.arpa", false},
		{"16.130.168.192.in-addr.arpa.", "6.130.168.192.in-addr.arpa", false},
		{dns.ReverseName(netip.MustParseAddr("2001:db8::10")), "8.b.d.0.1.0.0.2.ip6.arpa", true},
		{dns.ReverseName(netip.MustParseAddr("2001:db8::10")), "8.B.D.0.1.0.0.2.IP6.ARPA.", true},
		{dns.ReverseName(netip.MustParseAddr("2001:db9::10")), "8.b.d.0.1.0.0.2.ip6.arpa", false},
		// Classless and nibble-unaligned zones can never match a reverse name.
		{"10.2.0.192.in-addr.arpa.", "0/26.2.0.192.in-addr.arpa", false},
		{"10.2.0.192.in-addr.arpa.", "0-63.2.0.192.in-addr.arpa", false},
		{dns.ReverseName(netip.MustParseAddr("2001:db8::10")), "db8.0.1.0.0.2.ip6.arpa", false},
		{dns.ReverseName(netip.MustParseAddr("2001:db8::10")), "0/33.8.b.d.0.1.0.0.2.ip6.arpa", false},
	}
	for _, c := range cases {
		if got := dns.ZoneMatches(c.name, c.zone); got != c.want {
			t.Errorf("ZoneMatches(%q, %q) = %v, want %v", c.name, c.zone, got, c.want)
		}
	}
}

func TestReverseZoneProblem(t *testing.T) {
	ip := netip.MustParseAddr
	cases := []struct {
		zone string
		ip   string
		want bool
	}{
		// RFC 2317 "N/L": only addresses in range.
		{"0/26.2.0.192.in-addr.arpa", "192.0.2.10", true},
		{"0/26.2.0.192.in-addr.arpa.", "192.0.2.63", true},
		{"0/26.2.0.192.in-addr.arpa", "192.0.2.64", false},
		{"64/26.2.0.192.in-addr.arpa", "192.0.2.100", true},
		{"64/26.2.0.192.in-addr.arpa", "192.0.2.10", false},
		{"0/26.2.0.192.in-addr.arpa", "192.0.3.10", false},
		{"0/26.2.0.192.in-addr.arpa", "::ffff:192.0.2.10", true},
		// Other notations: reported for the whole parent /24.
		{"0-63.2.0.192.in-addr.arpa", "192.0.2.200", true},
		{"SUBNET0.2.0.192.IN-ADDR.ARPA", "192.0.2.1", true},
		{"010.2.0.192.in-addr.arpa", "192.0.2.10", true}, // malformed octet
		// Nibble-unaligned ip6.arpa zones.
		{"db8.0.1.0.0.2.ip6.arpa", "2001:db8::1", true},
		{"0/33.8.b.d.0.1.0.0.2.ip6.arpa", "2001:db8::1", true},
		{"0/33.8.b.d.0.1.0.0.2.ip6.arpa", "2001:db9::1", false},
		// Supported zones are no problem.
		{"2.0.192.in-addr.arpa", "192.0.2.10", false},
		{"in-addr.arpa", "192.0.2.10", false},
		{"8.b.d.0.1.0.0.2.ip6.arpa", "2001:db8::1", false},
		{"example.com", "192.0.2.10", false},
		// Family mismatch.
		{"0/26.2.0.192.in-addr.arpa", "2001:db8::1", false},
		{"db8.0.1.0.0.2.ip6.arpa", "192.0.2.10", false},
	}
	for _, c := range cases {
		reason, got := dns.ReverseZoneProblem(c.zone, ip(c.ip))
		if got != c.want {
			t.Errorf("ReverseZoneProblem(%q, %s) = %v (%q), want %v", c.zone, c.ip, got, reason, c.want)
		}
		if got && !strings.Contains(reason, "unsupported") {
			t.Errorf("reason %q should say unsupported", reason)
		}
	}
}

// refMatches is a label-by-label reference for ZoneMatches.
func refMatches(name, zone string) bool {
	split := func(s string) ([]string, bool) {
		s = strings.TrimSuffix(s, ".")
		if s == "" {
			return nil, false
		}
		ls := strings.Split(s, ".")
		for _, l := range ls {
			if l == "" {
				return nil, false
			}
		}
		return ls, true
	}
	n, ok1 := split(name)
	z, ok2 := split(zone)
	if !ok1 || !ok2 || len(z) > len(n) {
		return false
	}
	off := len(n) - len(z)
	for i := range z {
		if asciiLower(n[off+i]) != asciiLower(z[i]) {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func FuzzZoneMatches(f *testing.F) {
	for _, s := range [][2]string{
		{"vm.example.com", "example.com"}, {"VM.Example.COM.", "example.com"}, {"notexample.com", "example.com"},
		{"example.com", "vm.example.com"}, {"", ""}, {".", "."}, {"a..b", "b"}, {"x.", "x"}, {"x..", "x."},
		{"6.130.168.192.in-addr.arpa.", "130.168.192.in-addr.arpa"}, {"10.2.0.192.in-addr.arpa", "0/26.2.0.192.in-addr.arpa"},
		{"\u212a.com", "k.com"}, {"ÄÖ.example", "äö.example"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, zone string) {
		got := dns.ZoneMatches(name, zone)
		if want := refMatches(name, zone); got != want {
			t.Fatalf("ZoneMatches(%q, %q) = %v, reference says %v", name, zone, got, want)
		}
		if dns.ZoneMatches(asciiUpper(name), asciiLower(zone)) != got {
			t.Fatalf("case changed the answer for (%q, %q)", name, zone)
		}
		if !strings.HasSuffix(name, ".") && dns.ZoneMatches(name+".", zone) != got {
			t.Fatalf("a trailing dot on the name changed the answer for (%q, %q)", name, zone)
		}
		if !strings.HasSuffix(zone, ".") && dns.ZoneMatches(name, zone+".") != got {
			t.Fatalf("a trailing dot on the zone changed the answer for (%q, %q)", name, zone)
		}
		if got && !dns.ZoneMatches("x."+strings.TrimSuffix(name, ".")+".", zone) {
			t.Fatalf("a child of a matching name must match: (%q, %q)", name, zone)
		}
	})
}

func FuzzReverseName(f *testing.F) {
	for _, s := range []string{"192.168.130.6", "0.0.0.0", "255.255.255.255", "2001:db8::10", "::", "::1",
		"::ffff:192.0.2.1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::1"} {
		a := netip.MustParseAddr(s)
		b := a.AsSlice()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		name := dns.ReverseName(ip)
		want := ip.Unmap()
		suffix, labels := "ip6.arpa.", 34
		if want.Is4() {
			suffix, labels = "in-addr.arpa.", 6
		}
		if !strings.HasSuffix(name, "."+suffix) || strings.Count(name, ".") != labels {
			t.Fatalf("ReverseName(%v) = %q", ip, name)
		}
		if name != strings.ToLower(name) {
			t.Fatalf("ReverseName(%v) = %q is not lower case", ip, name)
		}
		back, ok := dns.ParseReverseName(name)
		if !ok || back != want {
			t.Fatalf("ParseReverseName(ReverseName(%v)) = %v, %v", ip, back, ok)
		}
		if !dns.ZoneMatches(name, strings.TrimSuffix(suffix, ".")) {
			t.Fatalf("%q is not under %s", name, suffix)
		}
		if want.Is4() && dns.ReverseName(netip.AddrFrom16(want.As16())) != name {
			t.Fatalf("IPv4-mapped form of %v maps elsewhere", ip)
		}
	})
}

var sink any

func BenchmarkReverseName(b *testing.B) {
	for _, s := range []string{"192.168.130.6", "2001:db8:abcd:12::ff"} {
		ip := netip.MustParseAddr(s)
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = dns.ReverseName(ip)
			}
		})
	}
}

func BenchmarkZoneMatches(b *testing.B) {
	cases := [][2]string{
		{"5546-1776530141.puqcloud.com", "puqcloud.com"},
		{"VM.Example.COM.", "example.com."},
		{dns.ReverseName(netip.MustParseAddr("2001:db8::10")), "8.b.d.0.1.0.0.2.ip6.arpa"},
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cases {
			sink = dns.ZoneMatches(c[0], c[1])
		}
	}
}
