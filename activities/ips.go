package activities

import (
	"net/netip"
	"sort"
	"strings"
)

// ParseIPs collects every single IPv4/IPv6 address from WHMCS's dedicatedip
// and assignedips (newline, comma, semicolon or space separated; /32 and
// /128 prefixes count as addresses). It returns them deduplicated and sorted,
// and the tokens it could not use (subnets, garbage), so callers can report them.
func ParseIPs(fields ...string) (ips []string, skipped []string) {
	seen := map[netip.Addr]bool{}
	for _, f := range fields {
		for _, tok := range strings.FieldsFunc(f, func(r rune) bool {
			return r == '\n' || r == '\r' || r == ',' || r == ';' || r == ' ' || r == '\t'
		}) {
			addr, err := netip.ParseAddr(tok)
			if err != nil {
				p, perr := netip.ParsePrefix(tok)
				if perr != nil || p.Bits() != p.Addr().BitLen() {
					skipped = append(skipped, tok)
					continue
				}
				addr = p.Addr()
			}
			addr = addr.Unmap().WithZone("")
			if !seen[addr] {
				seen[addr] = true
			}
		}
	}
	list := make([]netip.Addr, 0, len(seen))
	for a := range seen {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Less(list[j]) })
	for _, a := range list {
		ips = append(ips, a.String())
	}
	return ips, skipped
}
