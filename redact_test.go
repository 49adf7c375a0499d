package fetch_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fetchkit/fetch"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://alice:s3cret@host/x", "http://alice:xxxxx@host/x"},
		{"http://alice@host/x", "http://alice@host/x"},
		{"http://host:8080/@scope/x", "http://host:8080/@scope/x"},
		// Unparsable: a bad escape, a "/" or a space in the password, no
		// scheme, a password holding "@".
		{"http://alice:s3%zzcret@host/x", "http://alice:xxxxx@host/x"},
		{"http://alice:pa/ss@host/x?y=1", "http://alice:xxxxx@host/x?y=1"},
		{"ftp://alice:pa ss@host/x", "ftp://alice:xxxxx@host/x"},
		{"alice:s3cret@host/x", "alice:xxxxx@host/x"},
		{"http://alice:p@ss%@host/x", "http://alice:xxxxx@host/x"},
		{"http://[::1/x", "http://[::1/x"},
		{"127.0.0.1:8080/x", "127.0.0.1:8080/x"},
	} {
		if got := fetch.RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestUnparsableURLRedacted checks that a URL that does not parse is named
// in the error without its password.
func TestUnparsableURLRedacted(t *testing.T) {
	f := fetch.New(fetch.Options{})
	defer f.Close()
	for _, raw := range []string{"http://alice:s3%zzcret@127.0.0.1:1/x", "http://alice:s3/cret@127.0.0.1:1/x"} {
		res, err := f.Fetch(context.Background(), fetch.Request{URL: raw})
		if err == nil {
			t.Fatalf("%s: no error", raw)
		}
		for _, s := range []string{err.Error(), res.URL} {
			if strings.Contains(s, "cret") {
				t.Errorf("%q shows the password", s)
			}
			if !strings.Contains(s, "alice:xxxxx@") {
				t.Errorf("%q does not name the URL", s)
			}
		}
	}
}
