package fetch

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// memProtocol serves one byte for every URL.
type memProtocol struct{}

func (memProtocol) Open(ctx context.Context, req *OpenRequest) (*Response, io.ReadCloser, error) {
	return &Response{URL: req.URL.String(), Status: http.StatusOK, Header: http.Header{}, Size: 1},
		io.NopCloser(bytes.NewReader([]byte{'x'})), nil
}

// TestFetchAllSlowConsumer: while the consumer leaves the Results of the
// whole window unread, FetchAll looks at the channel less and less often
// (at most every maxLagPoll once the waits have grown), rather than every
// millisecond; and the consumer then gets every Result.
func TestFetchAllSlowConsumer(t *testing.T) {
	f := New(Options{Limiter: NewLimiter(2, 2), Protocols: map[string]Protocol{"mem": memProtocol{}}})
	defer f.Close()
	start := time.Now()
	s := f.newScheduler(t.Context())
	reqs := make(chan Request)
	const n = 40
	go func() {
		defer close(reqs)
		for i := range n {
			reqs <- Request{URL: "mem://host/f", Writer: io.Discard, Tag: i}
		}
	}()
	go s.run(reqs)

	// The window fills, then the consumer reads nothing for a while.
	for len(s.out) < cap(s.out) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	looks, stalled := s.lagLooks.Load(), time.Since(start)
	// The waits double up to maxLagPoll, so no more looks than these fit in
	// the time stalled, however slow the machine.
	growing := 0
	for d := minLagPoll; d < maxLagPoll; d *= 2 {
		growing++
	}
	if most := int64(growing) + int64(stalled/maxLagPoll) + 1; looks > most {
		t.Errorf("%d looks at the channel in %v of a consumer reading nothing; want at most %d", looks, stalled.Round(time.Millisecond), most)
	}

	got := 0
	for res := range s.out {
		if res.Err != nil {
			t.Errorf("%v: %v", res.Request.Tag, res.Err)
		}
		got++
	}
	if got != n {
		t.Errorf("got %d Results; want %d", got, n)
	}
}
