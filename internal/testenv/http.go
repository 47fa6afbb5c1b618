package testenv

import (
	"io"
	"net/http"
	"testing"
)

// Do sends req with the default client and returns the response with its
// body read (and closed); a failed request fails the test.
func Do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}
