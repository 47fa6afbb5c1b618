package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Provider kinds (canonical spellings, also the default provider label).
const (
	KindPowerDNS   = "powerdns"
	KindHestia     = "hestiacp"
	KindCloudflare = "cloudflare"
)

// Defaults applied when a field is left zero.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultBudget        = 60 * time.Second
	DefaultServerID      = "localhost"
	DefaultCloudflareURL = "https://api.cloudflare.com/client/v4"
)

// ProviderConfig configures one DNS provider. Every field is documented in
// dns/README.md. Secret fields (api_key, access_key, secret_key, token) may
// instead name an environment variable through the *_env fields; a secret
// is never echoed by Validate, String, GoString or LogValue.
type ProviderConfig struct {
	// Kind is "powerdns" (alias "pdns"), "hestiacp" (alias "hestia") or "cloudflare".
	Kind string `yaml:"kind" json:"kind"`
	// Name labels the provider in outcome lines; default: the canonical kind.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// URL is the API base. powerdns: webserver base, e.g. http://127.0.0.1:8081
	// (a trailing /api/v1 is accepted); hestiacp: panel base, e.g.
	// https://panel.example.com:8083 (a trailing /api/ is accepted);
	// cloudflare: optional, default https://api.cloudflare.com/client/v4.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// APIKey is the PowerDNS X-API-Key, or the HestiaCP legacy API hash.
	APIKey string `yaml:"api_key,omitempty" json:"api_key,omitempty"`
	// APIKeyEnv names an environment variable holding APIKey.
	APIKeyEnv string `yaml:"api_key_env,omitempty" json:"api_key_env,omitempty"`
	// ServerID is the PowerDNS server id in /api/v1/servers/{id}; default "localhost".
	ServerID string `yaml:"server_id,omitempty" json:"server_id,omitempty"`
	// User is the HestiaCP user owning the DNS domains (arg1 of every command).
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// AccessKey and SecretKey are a HestiaCP access key pair (Hestia >= 1.6).
	AccessKey    string `yaml:"access_key,omitempty" json:"access_key,omitempty"`
	AccessKeyEnv string `yaml:"access_key_env,omitempty" json:"access_key_env,omitempty"`
	SecretKey    string `yaml:"secret_key,omitempty" json:"secret_key,omitempty"`
	SecretKeyEnv string `yaml:"secret_key_env,omitempty" json:"secret_key_env,omitempty"`
	// Token is a Cloudflare API token (Bearer), with Zone:Read and DNS:Edit.
	Token    string `yaml:"token,omitempty" json:"token,omitempty"`
	TokenEnv string `yaml:"token_env,omitempty" json:"token_env,omitempty"`
	// Zones optionally restricts the provider to these zone names.
	Zones []string `yaml:"zones,omitempty" json:"zones,omitempty"`
	// Timeout bounds each HTTP call; default 10s. JSON/YAML: "10s" style.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Budget bounds all the calls made to this provider by one Cleanup or
	// Plan; default 60s.
	Budget time.Duration `yaml:"budget,omitempty" json:"budget,omitempty"`
	// InsecureTLS skips TLS certificate verification (self-signed panels).
	InsecureTLS bool `yaml:"insecure_tls,omitempty" json:"insecure_tls,omitempty"`
}

// CanonicalKind maps a configured kind (case-insensitive, aliases allowed)
// to its canonical spelling, or "" when unknown.
func CanonicalKind(kind string) string {
	switch strings.ToLower(strings.TrimSpace(kind)) {
	case "powerdns", "pdns":
		return KindPowerDNS
	case "hestiacp", "hestia":
		return KindHestia
	case "cloudflare":
		return KindCloudflare
	}
	return ""
}

// Label is the provider's label in outcome lines: Name, or the canonical kind.
func (c ProviderConfig) Label() string {
	if n := strings.TrimSpace(c.Name); n != "" {
		return n
	}
	if k := CanonicalKind(c.Kind); k != "" {
		return k
	}
	return "dns"
}

// EffectiveTimeout is Timeout or DefaultTimeout.
func (c ProviderConfig) EffectiveTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// EffectiveBudget is Budget or DefaultBudget.
func (c ProviderConfig) EffectiveBudget() time.Duration {
	if c.Budget > 0 {
		return c.Budget
	}
	return DefaultBudget
}

// secretField describes one secret and its environment-variable twin.
type secretField struct {
	name, envName string
	value, env    string
}

func (c ProviderConfig) secretFields() []secretField {
	return []secretField{
		{"api_key", "api_key_env", c.APIKey, c.APIKeyEnv},
		{"access_key", "access_key_env", c.AccessKey, c.AccessKeyEnv},
		{"secret_key", "secret_key_env", c.SecretKey, c.SecretKeyEnv},
		{"token", "token_env", c.Token, c.TokenEnv},
	}
}

// Secret returns the value of the named secret field ("api_key",
// "access_key", "secret_key" or "token"), read from its *_env variable when
// that is set.
func (c ProviderConfig) Secret(field string) string {
	for _, f := range c.secretFields() {
		if f.name == field {
			if f.env != "" {
				return os.Getenv(f.env)
			}
			return f.value
		}
	}
	return ""
}

// SecretValues returns every non-empty secret this config carries, literal
// or resolved from the environment.
func (c ProviderConfig) SecretValues() []string {
	var out []string
	for _, f := range c.secretFields() {
		if f.value != "" {
			out = append(out, f.value)
		}
		if f.env != "" {
			if v := os.Getenv(f.env); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

var (
	labelRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	serverIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// A permissive check of HestiaCP user names (letters, digits, . _ -).
	hestiaUserRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$`)
)

// ConfigError is one problem found by Validate. It never carries a secret.
type ConfigError struct {
	Provider string // the provider's label
	Kind     string // canonical kind, or the configured one when unknown
	Field    string // yaml/json field name
	Problem  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("dns provider %q (%s): %s: %s", e.Provider, e.Kind, e.Field, e.Problem)
}

// ValidateFor is how package pkg's New takes c: it must be of kind (after
// aliases), then valid (Validate).
func (c ProviderConfig) ValidateFor(pkg, kind string) error {
	if CanonicalKind(c.Kind) != kind {
		return fmt.Errorf("%s.New: kind %q is not %s", pkg, c.Kind, kind)
	}
	return c.Validate()
}

// Validate reports every missing or wrong field, one *ConfigError each,
// joined with errors.Join. Secret values are never included; environment
// variable names are.
func (c ProviderConfig) Validate() error {
	kind := CanonicalKind(c.Kind)
	shownKind := kind
	if kind == "" {
		shownKind = "kind?"
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Provider: c.Label(), Kind: shownKind, Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if kind == "" {
		if strings.TrimSpace(c.Kind) == "" {
			add("kind", "required (powerdns, hestiacp or cloudflare)")
		} else {
			add("kind", "unknown kind %q (want powerdns, hestiacp or cloudflare)", c.Kind)
		}
	}
	if c.Name != "" && !labelRE.MatchString(c.Name) {
		add("name", "must be 1-64 characters of letters, digits, '.', '_' or '-'")
	}

	// URL.
	switch {
	case c.URL == "" && kind != KindCloudflare && kind != "":
		add("url", "required")
	case c.URL != "":
		if p := urlProblem(c.URL); p != "" {
			add("url", "%s", p)
		}
	}

	// Secrets: literal xor env, and env must be set.
	set := map[string]bool{}
	for _, f := range c.secretFields() {
		switch {
		case f.value != "" && f.env != "":
			add(f.name, "set %s or %s, not both", f.name, f.envName)
		case f.env != "" && !envNameRE.MatchString(f.env):
			add(f.envName, "not a valid environment variable name")
		case f.env != "" && os.Getenv(f.env) == "":
			add(f.envName, "environment variable %s is unset or empty", f.env)
		}
		if f.value != "" || f.env != "" {
			set[f.name] = true
		}
		if f.value != "" && strings.TrimSpace(f.value) != f.value {
			add(f.name, "has leading or trailing white space")
		}
	}
	notFor := func(fields ...string) {
		for _, name := range fields {
			if set[name] {
				add(name, "not used by %s", kind)
			}
		}
	}

	switch kind {
	case KindPowerDNS:
		if !set["api_key"] {
			add("api_key", "required (or api_key_env)")
		}
		if c.ServerID != "" && !serverIDRE.MatchString(c.ServerID) {
			add("server_id", "must be 1-64 characters of letters, digits, '.', '_' or '-'")
		}
		if c.User != "" {
			add("user", "not used by powerdns")
		}
		notFor("access_key", "secret_key", "token")
	case KindHestia:
		if c.User == "" {
			add("user", "required (the HestiaCP user owning the DNS domains)")
		} else if !hestiaUserRE.MatchString(c.User) {
			add("user", "not a valid HestiaCP user name")
		}
		pair := set["access_key"] || set["secret_key"]
		switch {
		case pair && set["api_key"]:
			add("api_key", "use either access_key+secret_key or the legacy api_key hash, not both")
		case pair && !set["access_key"]:
			add("access_key", "required with secret_key (or access_key_env)")
		case pair && !set["secret_key"]:
			add("secret_key", "required with access_key (or secret_key_env)")
		case !pair && !set["api_key"]:
			add("access_key", "required: access_key+secret_key, or the legacy api_key hash")
		}
		if c.ServerID != "" {
			add("server_id", "not used by hestiacp")
		}
		notFor("token")
	case KindCloudflare:
		if !set["token"] {
			add("token", "required (or token_env)")
		}
		if c.ServerID != "" {
			add("server_id", "not used by cloudflare")
		}
		if c.User != "" {
			add("user", "not used by cloudflare")
		}
		notFor("api_key", "access_key", "secret_key")
	}

	for i, z := range c.Zones {
		if !wellFormed(Canon(strings.TrimSpace(z))) {
			add(fmt.Sprintf("zones[%d]", i), "not a valid zone name")
		}
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	if c.Budget < 0 {
		add("budget", "must not be negative")
	}
	return errors.Join(errs...)
}

// urlProblem returns why raw is not an acceptable API URL, never echoing
// credentials it might carry.
func urlProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "scheme must be http or https"
	}
	if u.User != nil {
		return "must not carry credentials (user:password@); use the key fields"
	}
	if u.Host == "" {
		return "host missing"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "must not have a query or fragment"
	}
	return ""
}

// AllowsZone reports whether zone passes the optional Zones allow-list.
func (c ProviderConfig) AllowsZone(zone string) bool {
	if len(c.Zones) == 0 {
		return true
	}
	z := Canon(zone)
	for _, a := range c.Zones {
		if Canon(strings.TrimSpace(a)) == z {
			return true
		}
	}
	return false
}

// String describes the config without any secret.
func (c ProviderConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", CanonicalKindOr(c.Kind), c.Label())
	if c.URL != "" {
		fmt.Fprintf(&b, " url=%s", RedactURL(c.URL))
	}
	if c.ServerID != "" {
		fmt.Fprintf(&b, " server_id=%s", c.ServerID)
	}
	if c.User != "" {
		fmt.Fprintf(&b, " user=%s", c.User)
	}
	for _, f := range c.secretFields() {
		if f.value != "" {
			fmt.Fprintf(&b, " %s=REDACTED", f.name)
		}
		if f.env != "" {
			fmt.Fprintf(&b, " %s=%s", f.envName, f.env)
		}
	}
	if len(c.Zones) > 0 {
		fmt.Fprintf(&b, " zones=%v", c.Zones)
	}
	if c.Timeout != 0 {
		fmt.Fprintf(&b, " timeout=%s", c.Timeout)
	}
	if c.Budget != 0 {
		fmt.Fprintf(&b, " budget=%s", c.Budget)
	}
	if c.InsecureTLS {
		b.WriteString(" insecure_tls")
	}
	return b.String()
}

// GoString makes %#v as safe as %v.
func (c ProviderConfig) GoString() string { return "ProviderConfig{" + c.String() + "}" }

// LogValue keeps secrets out of log/slog output.
func (c ProviderConfig) LogValue() slog.Value {
	return slog.StringValue(c.String())
}

// CanonicalKindOr returns the canonical kind, or the raw one when unknown.
func CanonicalKindOr(kind string) string {
	if k := CanonicalKind(kind); k != "" {
		return k
	}
	return kind
}

// RedactURL drops any userinfo from a URL string for display.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	u.User = nil
	return u.String()
}

// UnmarshalJSON accepts timeout and budget as Go duration strings ("10s")
// or as integer nanoseconds.
func (c *ProviderConfig) UnmarshalJSON(data []byte) error {
	type plain ProviderConfig
	aux := struct {
		*plain
		Timeout json.RawMessage `json:"timeout,omitempty"`
		Budget  json.RawMessage `json:"budget,omitempty"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	var err error
	if c.Timeout, err = jsonDuration("timeout", aux.Timeout); err != nil {
		return err
	}
	if c.Budget, err = jsonDuration("budget", aux.Budget); err != nil {
		return err
	}
	return nil
}

// MarshalJSON writes timeout and budget as duration strings so that
// UnmarshalJSON reads them back.
func (c ProviderConfig) MarshalJSON() ([]byte, error) {
	type plain ProviderConfig
	aux := struct {
		plain
		Timeout string `json:"timeout,omitempty"`
		Budget  string `json:"budget,omitempty"`
	}{plain: plain(c)}
	if c.Timeout != 0 {
		aux.Timeout = c.Timeout.String()
	}
	if c.Budget != 0 {
		aux.Budget = c.Budget.String()
	}
	return json.Marshal(aux)
}

func jsonDuration(field string, raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a duration like \"10s\"", field, s)
		}
		return d, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%s: want a duration string like \"10s\" or integer nanoseconds", field)
	}
	return time.Duration(n), nil
}
