// Package secret reads a configured secret that is either written in the
// config file or named by an environment variable, the rule the database
// DSN and the Proxmox token secret share.
package secret

import (
	"fmt"
	"os"
)

// Value returns inline when it is set, else the value of the environment
// variable env (empty when env is empty or unset).
func Value(inline, env string) string {
	if inline != "" {
		return inline
	}
	if env != "" {
		return os.Getenv(env)
	}
	return ""
}

// Problem says why the secret configured by the YAML keys key and key+"_env"
// is empty, and "" when it is not. It never echoes the secret.
func Problem(key, inline, env string) string {
	switch {
	case Value(inline, env) != "":
		return ""
	case env != "":
		return fmt.Sprintf("environment variable %s (%s_env) is empty", env, key)
	default:
		return fmt.Sprintf("%s (or %s_env) is not set", key, key)
	}
}
