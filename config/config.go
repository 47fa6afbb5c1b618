// Package config loads the configuration shared by the starter and the
// worker: a YAML file, with secrets from the environment. Nothing in it
// ever enters a workflow's input, except the timing.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// Temporal is where the workflow runs.
type Temporal struct {
	Address   string `yaml:"address" json:"address"`       // host:port of the frontend; default 127.0.0.1:7233
	Namespace string `yaml:"namespace" json:"namespace"`   // default "default"
	TaskQueue string `yaml:"task_queue" json:"task_queue"` // default proxmox-terminate
}

// Config is the whole file.
type Config struct {
	Temporal Temporal             `yaml:"temporal" json:"temporal"`
	Database dbmodel.Config       `yaml:"database" json:"database"`
	Proxmox  []pve.Config         `yaml:"proxmox" json:"proxmox"`
	DNS      []dns.ProviderConfig `yaml:"dns" json:"dns"`
	Timing   pipeline.Timing      `yaml:"timing" json:"timing"`
	Starter  Starter              `yaml:"starter" json:"starter"`
	Worker   Worker               `yaml:"worker" json:"worker"`
}

// Worker tunes the worker.
type Worker struct {
	// ReconcileEvery is how often the re-queue schedule runs (default 1m):
	// rows an admin reset to 'terminate' in the billing panel get a run.
	ReconcileEvery time.Duration `yaml:"reconcile_every" json:"reconcile_every"`
	// ReconcileDisabled turns the schedule off (it is not deleted).
	ReconcileDisabled bool `yaml:"reconcile_disabled" json:"reconcile_disabled"`
}

// Starter tunes the billing panel's entry point.
type Starter struct {
	// ShutdownTimeout bounds the fire-and-forget shutdown request (default 3s):
	// the starter must answer within a PHP request.
	ShutdownTimeout string `yaml:"shutdown_timeout" json:"shutdown_timeout"`
}

// EnvPath is the environment variable naming the config file.
const EnvPath = "PROXMOX_TERMINATE_CONFIG"

// Load reads path (or $PROXMOX_TERMINATE_CONFIG, or ./config.yaml), applies
// environment overrides and defaults, and validates everything.
func Load(path string) (*Config, error) {
	path, data, err := read(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// read reads the config file path, or $PROXMOX_TERMINATE_CONFIG, or
// ./config.yaml, and says which it read.
func read(path string) (string, []byte, error) {
	if path == "" {
		path = os.Getenv(EnvPath)
	}
	if path == "" {
		path = "config.yaml"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return path, nil, fmt.Errorf("config: %w", err)
	}
	return path, data, nil
}

// LoadDatabase reads the file as Load does (unknown keys are still errors)
// but checks only its database section: `worker migrate` needs nothing
// else, so it runs without the Proxmox and DNS secrets.
func LoadDatabase(path string) (*Config, error) {
	path, data, err := read(path)
	if err != nil {
		return nil, err
	}
	c, err := decode(data, path)
	if err != nil {
		return nil, err
	}
	if err := c.Database.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse parses YAML config text. Unknown keys are errors: a typo in a
// setting must not silently fall back to a default.
func Parse(data []byte, name string) (*Config, error) {
	c, err := decode(data, name)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// decode parses the YAML and applies the environment and the defaults.
func decode(data []byte, name string) (*Config, error) {
	var c Config
	if strings.TrimSpace(string(data)) == "" {
		return nil, fmt.Errorf("config %s is empty: see config.example.yaml", name)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	c.applyEnv()
	c.applyDefaults()
	return &c, nil
}

func (c *Config) applyEnv() {
	if v := os.Getenv("TEMPORAL_ADDRESS"); v != "" {
		c.Temporal.Address = v
	}
	if v := os.Getenv("TEMPORAL_NAMESPACE"); v != "" {
		c.Temporal.Namespace = v
	}
}

func (c *Config) applyDefaults() {
	if c.Temporal.Address == "" {
		c.Temporal.Address = "127.0.0.1:7233"
	}
	if c.Temporal.Namespace == "" {
		c.Temporal.Namespace = "default"
	}
	if c.Temporal.TaskQueue == "" {
		c.Temporal.TaskQueue = pipeline.TaskQueue
	}
	if c.Worker.ReconcileEvery == 0 {
		c.Worker.ReconcileEvery = time.Minute
	}
	c.Database = c.Database.WithDefaults()
	if src := &c.Database.VMSource; len(c.Proxmox) == 1 {
		// One Proxmox server: a foreign source's VMs can only be on it.
		switch src.Kind {
		case dbmodel.SourcePVEWHMCS:
			if src.PVEWHMCS.Server == "" {
				src.PVEWHMCS.Server = c.Proxmox[0].Name
			}
		case dbmodel.SourceMapped:
			if src.Mapped.Server == "" && src.Mapped.ServerName == "" {
				src.Mapped.ServerName = c.Proxmox[0].Name
			}
		}
	}
	c.Timing = c.Timing.WithDefaults()
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Database.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Proxmox) == 0 {
		errs = append(errs, errors.New("proxmox: at least one server is required"))
	}
	names := map[string]bool{}
	for i, p := range c.Proxmox {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("proxmox[%d]: %w", i, err))
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("proxmox[%d]: duplicate name %q", i, p.Name))
		}
		names[p.Name] = true
	}
	for _, n := range c.Database.VMSource.ServerNames() {
		if !names[n] {
			errs = append(errs, fmt.Errorf("database.vm_source names proxmox server %q, which is not configured in proxmox[]", n))
		}
	}
	for i, d := range c.DNS {
		if err := d.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("dns[%d]: %w", i, err))
		}
	}
	if err := c.Timing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Worker.ReconcileEvery < time.Second {
		errs = append(errs, errors.New("worker.reconcile_every must be at least 1s"))
	}
	return errors.Join(errs...)
}

// Secrets lists every secret value configured (resolved from the
// environment), so that logs and the module log can redact them.
func (c *Config) Secrets() []string {
	var out []string
	for _, p := range c.Proxmox {
		if s := p.Secret(); s != "" {
			out = append(out, s)
		}
	}
	out = append(out, dns.Secrets(c.DNS)...)
	if dsn := c.Database.ResolvedDSN(); dsn != "" {
		if at := strings.Index(dsn, "@"); at > 0 {
			if colon := strings.Index(dsn[:at], ":"); colon >= 0 && colon+1 < at {
				out = append(out, dsn[colon+1:at])
			}
		}
	}
	return out
}
