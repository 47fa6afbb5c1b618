package pvesim

import "testing"

func TestTransferEncodingRefusalReadsEveryEncoding(t *testing.T) {
	for _, c := range []struct {
		te   []string
		want string
	}{
		{nil, ""},
		{[]string{"chunked"}, "chunked transfer encoding not supported"},
		{[]string{"CHUNKED"}, "chunked transfer encoding not supported"},
		{[]string{"gzip"}, "Unknown transfer encoding 'gzip'"},
		// Every entry counts, not only the first.
		{[]string{"gzip", "chunked"}, "Unknown transfer encoding 'gzip, chunked'"},
		{[]string{"chunked", "gzip"}, "Unknown transfer encoding 'chunked, gzip'"},
	} {
		if got := transferEncodingRefusal(c.te); got != c.want {
			t.Errorf("%q: got %q, want %q", c.te, got, c.want)
		}
	}
}
