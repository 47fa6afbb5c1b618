// Package dns deletes a terminated VM's DNS records on every configured DNS
// provider: forward A/AAAA records at the VM's domain and reverse PTR
// records of each of its addresses, in every zone that holds them.
//
// Only records that are the VM's own are deleted: an A/AAAA record only when
// its address is one of the VM's, a PTR only when it names the VM's domain.
// Every record (and every failure) yields one Result, whose Line is worded
// like the vendor's log:
//
//	rev-del OK [hestiacp] 130.168.192.in-addr.arpa ← 192.168.130.6
//	fwd-del OK [powerdns] example.com ← vm.example.com
//	fwd-del SKIP [powerdns] example.com ← vm.example.com : points elsewhere (198.51.100.7)
//	rev-del FAIL [cloudflare] 2.0.192.in-addr.arpa ← 192.0.2.10 : list records: HTTP 500: Internal Server Error
//
// Failures never stop the next record and never escape as errors or panics.
// See README.md for configuration, matching rules and outcome lines.
package dns

import (
	"net/netip"
	"strings"

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
)

// Shared types, defined in dns/internal/core so the provider subpackages can
// use them without importing this package.
type (
	// ProviderConfig configures one provider; see README.md.
	ProviderConfig = core.ProviderConfig
	// Provider is one configured DNS provider.
	Provider = core.Provider
	// Zone is a zone as a provider lists it.
	Zone = core.Zone
	// Record is one resource record.
	Record = core.Record
	// Call is one HTTP call to a provider, secrets already redacted.
	Call = core.Call
	// Observer receives one Call per HTTP call; may be nil. Providers made
	// by Build never call it concurrently; Cleanup runs providers in
	// parallel, so an Observer shared by providers made with the
	// subpackages' New functions must be safe for concurrent use.
	Observer = core.Observer
	// ConfigError is one problem reported by ProviderConfig.Validate.
	ConfigError = core.ConfigError
	// Snapshot is one run's copy of what it has read of one provider's
	// zones, passed to Provider.Records and Provider.Delete; nil reads
	// afresh.
	Snapshot = core.Snapshot
)

// NewSnapshot returns an empty Snapshot, for calling a Provider's Records
// and Delete outside Cleanup while reading each zone once.
func NewSnapshot() *Snapshot { return core.NewSnapshot() }

// ErrNotFound is wrapped by Provider.Delete when the record is already gone.
var ErrNotFound = core.ErrNotFound

// Provider kinds.
const (
	KindPowerDNS   = core.KindPowerDNS
	KindHestia     = core.KindHestia
	KindCloudflare = core.KindCloudflare
)

// Operations and statuses of a Result.
const (
	OpForward = "fwd-del"
	OpReverse = "rev-del"

	StatusOK   = "OK"   // the record was deleted
	StatusFail = "FAIL" // it could not be listed or deleted; Reason says why
	StatusSkip = "SKIP" // nothing to delete (absent, not ours, unsupported)
	StatusPlan = "PLAN" // Plan only: Cleanup would delete this record
)

// Target is the VM whose records are deleted.
type Target struct {
	// FQDN is the VM's domain (trailing dot and case do not matter).
	FQDN string
	// IPs are every IPv4 and IPv6 address of the VM (dedicatedip and
	// assignedips). IPv4-mapped IPv6 addresses count as IPv4.
	IPs []netip.Addr
}

// Result is the outcome for one record, or one failure.
type Result struct {
	Op         string // OpForward or OpReverse
	Status     string // StatusOK, StatusFail, StatusSkip or StatusPlan
	Provider   string // provider label (configured name, default its kind)
	Zone       string // zone name without trailing dot; "-" when none applies
	Subject    string // the IP for rev-del, the FQDN for fwd-del
	RecordType string // A, AAAA or PTR when a record is concerned
	// Content is the record's data when a record is concerned: its address
	// for A/AAAA, the name it points at for PTR.
	Content string
	Reason  string // why, for FAIL and SKIP (and "dry run" for PLAN)
}

// Line renders the result in the vendor's wording:
//
//	<op> <status> [<provider>] <zone> ← <subject>
//
// followed by " : <reason>" for FAIL and SKIP.
func (r Result) Line() string {
	zone, subject := r.Zone, r.Subject
	if zone == "" {
		zone = "-"
	}
	if subject == "" {
		subject = "-"
	}
	var b strings.Builder
	b.Grow(len(r.Op) + len(r.Status) + len(r.Provider) + len(zone) + len(subject) + len(r.Reason) + 16)
	b.WriteString(r.Op)
	b.WriteByte(' ')
	b.WriteString(r.Status)
	b.WriteString(" [")
	b.WriteString(r.Provider)
	b.WriteString("] ")
	b.WriteString(zone)
	b.WriteString(" ← ")
	b.WriteString(subject)
	if (r.Status == StatusFail || r.Status == StatusSkip) && r.Reason != "" {
		b.WriteString(" : ")
		b.WriteString(r.Reason)
	}
	return b.String()
}

// String is Line.
func (r Result) String() string { return r.Line() }

// ReverseName returns the absolute reverse-mapping name of ip, with the
// trailing dot: "6.130.168.192.in-addr.arpa." or the 32 nibbles under
// "ip6.arpa.". IPv4-mapped IPv6 addresses map under in-addr.arpa; an IPv6
// zone index is ignored; the zero Addr gives "".
func ReverseName(ip netip.Addr) string { return core.ReverseName(ip) }

// ParseReverseName is the inverse of ReverseName (trailing dot optional,
// case-insensitive). Only full-length names parse.
func ParseReverseName(name string) (netip.Addr, bool) { return core.ParseReverseName(name) }

// ZoneMatches reports whether name lies in zone: equal to it or ending in
// "." + zone, ASCII case-insensitively, one trailing dot on either side
// ignored. Empty or malformed names and zones never match.
func ZoneMatches(name, zone string) bool { return core.ZoneMatches(name, zone) }

// ReverseZoneProblem reports, with a reason, when zone is a reverse zone
// this package does not support (classless RFC 2317 delegations,
// nibble-unaligned ip6.arpa zones, malformed labels) and it concerns ip.
func ReverseZoneProblem(zone string, ip netip.Addr) (string, bool) {
	return core.ReverseZoneProblem(zone, ip)
}

// CanonicalKind maps a kind or alias (pdns, hestia) to its canonical name,
// or "" when unknown.
func CanonicalKind(kind string) string { return core.CanonicalKind(kind) }
