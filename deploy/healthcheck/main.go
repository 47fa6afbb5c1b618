// Command healthcheck probes the worker's /healthz for Docker's
// HEALTHCHECK: the worker image is distroless (no shell, no curl), so the
// probe is a static binary of its own. It exits 0 when the URL answers 200
// within the timeout and 1 otherwise, printing the reason on stderr.
//
//	healthcheck [URL]   (default $HEALTHCHECK_URL or http://127.0.0.1:9090/healthz)
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// DefaultURL is the worker's default --http-addr plus /healthz.
const DefaultURL = "http://127.0.0.1:9090/healthz"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	url := os.Getenv("HEALTHCHECK_URL")
	if len(args) > 0 {
		url = args[0]
	}
	if url == "" {
		url = DefaultURL
	}
	timeout := 4 * time.Second
	if v := os.Getenv("HEALTHCHECK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(stderr, "healthcheck: bad HEALTHCHECK_TIMEOUT %q\n", v)
			return 1
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s: %s %s\n", url, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	return 0
}
