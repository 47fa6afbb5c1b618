package main

import (
	"testing"
)

func TestRunRejectsBadInput(t *testing.T) {
	if err := run([]string{"--fixture", "does-not-exist.json"}); err == nil {
		t.Fatal("missing fixture accepted")
	}
	if err := run([]string{"--no-such-flag"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if err := run([]string{"--listen", "256.0.0.1:0", "--quiet"}); err == nil {
		t.Fatal("bad listen address accepted")
	}
}
