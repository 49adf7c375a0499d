package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestRetriesFlag: -retries N makes N extra attempts, and -retries 0 one
// attempt in all, not the library's default that a 0 Options.Retries
// means.
func TestRetriesFlag(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{0, 2} {
		t.Run(fmt.Sprint(retries), func(t *testing.T) {
			t.Parallel()
			o := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) {
				fetchtest.Status(w, 500, "")
			})
			res := fetchRun(t, t.Context(), "", "-o", t.TempDir(), "-retries", fmt.Sprint(retries), o.URL+"/f.bin")
			if res.code != 1 {
				t.Errorf("exit %d; want 1", res.code)
			}
			if got, want := o.Hits.Load(), int64(1+retries); got != want {
				t.Errorf("server saw %d requests; want %d", got, want)
			}
		})
	}
}
