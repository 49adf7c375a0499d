package fetch_test

import (
	"errors"
	"testing"

	"github.com/fetchkit/fetch"
)

// TestStatusErrorNotFound: the protocol that made a StatusError says
// which codes mean a missing file; the URL plays no part.
func TestStatusErrorNotFound(t *testing.T) {
	for _, tc := range []struct {
		err  *fetch.StatusError
		want bool
	}{
		{&fetch.StatusError{URL: "https://h/f", Code: 404}, true},
		{&fetch.StatusError{URL: "https://h/f", Code: 410}, true},
		{&fetch.StatusError{URL: "https://h/f", Code: 550}, false},
		{&fetch.StatusError{URL: "ftp://h/f", Code: 550, FTP: true}, true},
		{&fetch.StatusError{URL: "ftp://h/f", Code: 404, FTP: true}, false},
		// An HTTP status from a host whose name starts with "ftp".
		{&fetch.StatusError{URL: "ftp.example/f", Code: 404}, true},
		{&fetch.StatusError{URL: "mem://x/f", Code: 530, FTP: true}, false},
	} {
		if got := errors.Is(tc.err, fetch.ErrNotFound); got != tc.want {
			t.Errorf("%+v: errors.Is(ErrNotFound) = %v; want %v", *tc.err, got, tc.want)
		}
	}
}
