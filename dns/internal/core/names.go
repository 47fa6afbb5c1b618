package core

import (
	"net/netip"
	"strconv"
	"strings"
)

const (
	// suffix4 and suffix6 are the reverse-mapping trees, in Canon form.
	suffix4 = "in-addr.arpa"
	suffix6 = "ip6.arpa"
)

// Canon returns name in the package's comparison form: ASCII letters lowered
// and exactly one trailing dot removed. Only ASCII is folded, so a non-ASCII
// name never compares equal to an ASCII one by accident of Unicode folding.
// "." and "" both give "".
func Canon(name string) string {
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

// Absolute returns the Canon form of name with the trailing dot (the
// canonical form PowerDNS requires). "" stays "".
func Absolute(name string) string {
	c := Canon(name)
	if c == "" {
		return ""
	}
	return c + "."
}

// wellFormed reports whether a Canon name has no empty label.
func wellFormed(c string) bool {
	return c != "" && c[0] != '.' && c[len(c)-1] != '.' && !strings.Contains(c, "..")
}

// ZoneMatches reports whether name lies in zone: it equals the zone or ends
// in "." + zone, compared case-insensitively (ASCII) with one trailing dot on
// either side ignored. An empty or malformed name or zone (empty label, e.g.
// "a..b" or "example.com..") never matches.
func ZoneMatches(name, zone string) bool {
	n, z := Canon(name), Canon(zone)
	if !wellFormed(n) || !wellFormed(z) {
		return false
	}
	if len(n) == len(z) {
		return n == z
	}
	return len(n) > len(z) && n[len(n)-len(z)-1] == '.' && n[len(n)-len(z):] == z
}

// ReverseName returns the absolute reverse-mapping name of ip, with the
// trailing dot: "6.130.168.192.in-addr.arpa." for 192.168.130.6 and the 32
// nibble labels under "ip6.arpa." for IPv6. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) maps under in-addr.arpa like the IPv4 address it carries,
// and an IPv6 zone ("%eth0") is ignored. The zero Addr gives "".
func ReverseName(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		a := ip.As4()
		buf := make([]byte, 0, len("255.255.255.255.in-addr.arpa."))
		for i := 3; i >= 0; i-- {
			buf = strconv.AppendUint(buf, uint64(a[i]), 10)
			buf = append(buf, '.')
		}
		buf = append(buf, suffix4+"."...)
		return string(buf)
	}
	const hexdigits = "0123456789abcdef"
	a := ip.As16()
	buf := make([]byte, 0, 64+len(suffix6)+1)
	for i := 15; i >= 0; i-- {
		buf = append(buf, hexdigits[a[i]&0xf], '.', hexdigits[a[i]>>4], '.')
	}
	buf = append(buf, suffix6+"."...)
	return string(buf)
}

// ParseReverseName is the inverse of ReverseName: it accepts exactly four
// decimal octet labels (no leading zeros) under in-addr.arpa or exactly 32
// hex nibble labels under ip6.arpa, case-insensitively, with or without the
// trailing dot.
func ParseReverseName(name string) (netip.Addr, bool) {
	c := Canon(name)
	if v, ok := reverseLabels(c, suffix4, 4, octet); ok {
		var a [4]byte
		for i, o := range v {
			a[3-i] = o
		}
		return netip.AddrFrom4(a), true
	}
	if v, ok := reverseLabels(c, suffix6, 32, nibble); ok {
		var a [16]byte
		for i, n := range v {
			// label i is nibble 31-i counted from the most significant.
			pos := 31 - i
			if pos%2 == 0 {
				a[pos/2] |= n << 4
			} else {
				a[pos/2] |= n
			}
		}
		return netip.AddrFrom16(a), true
	}
	return netip.Addr{}, false
}

// reverseLabels parses the labels of c before "."+suffix, in order, with
// parse; ok is false unless c ends so and has exactly n labels that parse.
func reverseLabels(c, suffix string, n int, parse func(string) (byte, bool)) ([]byte, bool) {
	if !strings.HasSuffix(c, "."+suffix) {
		return nil, false
	}
	labels := strings.Split(strings.TrimSuffix(c, "."+suffix), ".")
	if len(labels) != n {
		return nil, false
	}
	out := make([]byte, n)
	for i, l := range labels {
		v, ok := parse(l)
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// octet parses a strict decimal octet label: 0-255, no sign, no leading zero.
func octet(l string) (byte, bool) {
	if l == "" || len(l) > 3 || (len(l) > 1 && l[0] == '0') {
		return 0, false
	}
	v := 0
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return 0, false
		}
		v = v*10 + int(l[i]-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}

// nibble parses a single hex digit label (already lower-cased by Canon).
func nibble(l string) (byte, bool) {
	if len(l) != 1 {
		return 0, false
	}
	switch c := l[0]; {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// ReverseZoneProblem tells whether zone is a reverse zone this package
// cannot handle and that concerns ip. It returns a human reason and true for
//   - a classless in-addr.arpa delegation (RFC 2317, e.g.
//     "0/26.2.0.192.in-addr.arpa" or "0-63.2.0.192.in-addr.arpa") whose
//     parent /24 holds ip (and, for the "N/L" form, whose range holds it);
//   - an ip6.arpa zone that is not nibble-aligned (a label that is not a
//     single hex digit, e.g. "0/33.8.b.d.0.1.0.0.2.ip6.arpa") whose aligned
//     parent holds ip;
//   - any other malformed label under in-addr.arpa/ip6.arpa, likewise.
//
// Such zones are never matched by ZoneMatches against a ReverseName (their
// labels cannot occur in one); this function lets the caller report them
// instead of silently passing over a PTR record it cannot safely delete.
func ReverseZoneProblem(zone string, ip netip.Addr) (string, bool) {
	z := Canon(zone)
	if !ip.IsValid() || !wellFormed(z) {
		return "", false
	}
	ip = ip.Unmap()
	var suffix string
	switch {
	case ip.Is4() && (z == suffix4 || strings.HasSuffix(z, "."+suffix4)):
		suffix = suffix4
	case ip.Is6() && (z == suffix6 || strings.HasSuffix(z, "."+suffix6)):
		suffix = suffix6
	default:
		return "", false
	}
	if z == suffix {
		return "", false
	}
	labels := strings.Split(strings.TrimSuffix(z, "."+suffix), ".")
	// Find the longest run of valid labels at the right end: the aligned
	// parent. bad is the index of the rightmost invalid label.
	bad := -1
	for i := len(labels) - 1; i >= 0; i-- {
		if !validReverseLabel(labels[i], suffix) {
			bad = i
			break
		}
	}
	if bad < 0 {
		return "", false // aligned zone: supported, ZoneMatches handles it
	}
	parent := suffix
	if bad+1 < len(labels) {
		parent = strings.Join(labels[bad+1:], ".") + "." + suffix
	}
	rn := ReverseName(ip)
	if !ZoneMatches(rn, parent) {
		return "", false
	}
	if suffix == suffix4 {
		// RFC 2317 "N/L" under a /24 parent: report only addresses in range.
		if bad == 0 && len(labels) == 4 {
			if lo, hi, ok := rfc2317Range(labels[0]); ok {
				last := ip.As4()[3]
				if int(last) < lo || int(last) > hi {
					return "", false
				}
			}
		}
		return "classless (RFC 2317) or malformed reverse zone " + z + " is unsupported; PTR not checked", true
	}
	return "nibble-unaligned or malformed reverse zone " + z + " is unsupported; PTR not checked", true
}

func validReverseLabel(l, suffix string) bool {
	if suffix == suffix4 {
		_, ok := octet(l)
		return ok
	}
	_, ok := nibble(l)
	return ok
}

// rfc2317Range parses the "N/L" form (start address and prefix length) of a
// classless delegation label and returns the inclusive range of last octets.
func rfc2317Range(label string) (int, int, bool) {
	n, l, ok := strings.Cut(label, "/")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.Atoi(n)
	plen, err2 := strconv.Atoi(l)
	if err1 != nil || err2 != nil || start < 0 || start > 255 || plen < 24 || plen > 32 {
		return 0, 0, false
	}
	size := 1 << (32 - plen)
	if start%size != 0 {
		return 0, 0, false
	}
	return start, start + size - 1, true
}
