package dns

import (
	"errors"
	"fmt"
	"sync"

	"github.com/proxmox-terminate/proxmox-terminate/dns/cloudflare"
	"github.com/proxmox-terminate/proxmox-terminate/dns/hestia"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
)

// Build validates every config and constructs its provider. All problems
// are reported together (errors.Join of *ConfigError); no secret appears in
// them. Labels (name, default kind) must be unique. obs may be nil; the
// providers built here share one Observer and never call it concurrently.
func Build(cfgs []ProviderConfig, obs Observer) ([]Provider, error) {
	var errs []error
	seen := map[string]int{}
	for i, c := range cfgs {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
		label := c.Label()
		if j, dup := seen[label]; dup {
			errs = append(errs, &ConfigError{Provider: label, Kind: core.CanonicalKindOr(c.Kind), Field: "name",
				Problem: fmt.Sprintf("label %q used by providers #%d and #%d; set distinct names", label, j+1, i+1)})
		}
		seen[label] = i
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	shared := serialize(obs)
	out := make([]Provider, 0, len(cfgs))
	for _, c := range cfgs {
		p, err := New(c, shared)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// New constructs one provider from a validated config.
func New(c ProviderConfig, obs Observer) (Provider, error) {
	var (
		p   Provider
		err error
	)
	// Each branch assigns only on success so that a typed nil pointer never
	// hides inside a non-nil Provider interface.
	switch core.CanonicalKind(c.Kind) {
	case KindPowerDNS:
		var pp *powerdns.Provider
		if pp, err = powerdns.New(c, obs); err == nil {
			p = pp
		}
	case KindHestia:
		var hp *hestia.Provider
		if hp, err = hestia.New(c, obs); err == nil {
			p = hp
		}
	case KindCloudflare:
		var cp *cloudflare.Provider
		if cp, err = cloudflare.New(c, obs); err == nil {
			p = cp
		}
	default:
		err = c.Validate()
		if err == nil {
			err = fmt.Errorf("dns provider %q: unknown kind", c.Label())
		}
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// serialize makes one Observer safe to share between providers that
// Cleanup runs in parallel.
func serialize(obs Observer) Observer {
	if obs == nil {
		return nil
	}
	var mu sync.Mutex
	return func(c Call) {
		mu.Lock()
		defer mu.Unlock()
		obs(c)
	}
}

// Secrets returns every secret value configured in cfgs, literal or read
// from the environment variables the *_env fields name. It is meant for
// redaction checks: no returned value may appear in any Result, Call or
// error.
func Secrets(cfgs []ProviderConfig) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cfgs {
		for _, s := range c.SecretValues() {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
