// Package core holds the types shared by package dns and its provider
// subpackages; package dns re-exports them under the same names.
package core

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) by Provider.Delete when the record is
// already gone, so the caller reports it as absent rather than failed.
var ErrNotFound = errors.New("record not found")

// Zone is one zone as a provider lists it.
type Zone struct {
	// ID is the provider's handle for the zone (PowerDNS zone id, Cloudflare
	// zone id, HestiaCP domain name).
	ID string
	// Name is the zone name as the provider spells it.
	Name string
	// ReadOnly marks zones whose records cannot be changed through this
	// provider (e.g. PowerDNS secondary zones); ReadOnlyReason says why.
	ReadOnly       bool
	ReadOnlyReason string
}

// Record is one resource record (one value, not a whole rrset).
type Record struct {
	// ID is the provider's record handle when it has one (HestiaCP, Cloudflare).
	ID string
	// Name is the owner name as the provider spells it.
	Name string
	// Type is the record type in upper case: A, AAAA, PTR, ...
	Type string
	// Content is the record data: an address for A/AAAA, a name for PTR.
	Content string
	// TTL in seconds, when known.
	TTL int
	// Disabled is PowerDNS's per-record disabled flag.
	Disabled bool
}

// Provider is one configured DNS provider. Implementations must be safe to
// call from one goroutine at a time; Cleanup never calls one provider
// concurrently with itself.
//
// Records and Delete take the run's Snapshot of this provider (see
// Snapshot): a provider that reads whole zones reads each zone at most once
// per snapshot and takes both the records and what a Delete needs from that
// read. A nil Snapshot means: read afresh.
type Provider interface {
	// Name is the configured label shown in outcome lines.
	Name() string
	// Kind is the canonical kind: powerdns, hestiacp or cloudflare.
	Kind() string
	// Budget bounds the total time one Cleanup or Plan spends on this provider.
	Budget() time.Duration
	// Zones lists the zones this provider serves (after the allow-list).
	Zones(ctx context.Context) ([]Zone, error)
	// Records returns every record whose owner name is name (any type).
	// Cleanup passes name lower-case without the trailing dot.
	Records(ctx context.Context, snap *Snapshot, zone Zone, name string) ([]Record, error)
	// Delete removes exactly rec (matched by type and content, or by ID)
	// and leaves every other record, including others in the same rrset.
	// It returns an error wrapping ErrNotFound when rec no longer exists
	// (as far as snap, or a fresh read without one, knows).
	Delete(ctx context.Context, snap *Snapshot, zone Zone, rec Record) error
}

// Redactor is implemented by providers that can scrub their own secrets
// from a string; Cleanup applies it to every reason it reports.
type Redactor interface {
	Redact(s string) string
}

// Base is what every provider keeps of its configuration: the config and
// the HTTP client built from it. Embedded in a provider, it answers Name,
// Budget and Redact.
type Base struct {
	Cfg    ProviderConfig
	Client *Client
}

// NewBase builds the Base of the provider cfg configures; obs sees its calls.
func NewBase(cfg ProviderConfig, obs Observer) Base {
	return Base{Cfg: cfg, Client: NewClient(cfg, obs)}
}

// Name is the configured label.
func (b *Base) Name() string { return b.Cfg.Label() }

// Budget is the per-run time budget.
func (b *Base) Budget() time.Duration { return b.Cfg.EffectiveBudget() }

// Redact scrubs the provider's secrets from s.
func (b *Base) Redact(s string) string { return b.Client.Redact(s) }

// Call describes one HTTP call made to a provider, with every secret
// already redacted. It is handed to the Observer after the call completes.
type Call struct {
	Provider string // provider label
	Method   string
	URL      string
	Request  string // request body (form or JSON), secrets replaced by REDACTED
	Response string // response body, possibly truncated
	Status   int    // HTTP status, 0 when no response arrived
	Err      string // transport or decoding error, "" on success
	Duration time.Duration
}

// Observer receives one Call per HTTP call. It may be nil.
type Observer func(Call)
