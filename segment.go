package fetch

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// span is the bytes [start, end) of a file.
type span struct{ start, end int64 }

// segmented is a download to a file split into spans fetched at once on
// several connections ([Options.Segments]). Every span is written in place
// in the temporary file; the digests are computed in file order as the
// written prefix grows, from the bytes in hand when a write extends it and
// read back from the file for spans that were written ahead of it.
type segmented struct {
	d    *download
	size int64 // of the whole file
	file *os.File
	ctx  context.Context // ends when the download ends or fails
	stop context.CancelCauseFunc
	urls []*url.URL // where spans may come from; urls[0] is the first response's
	// validator guards the spans asked of urls[0]; every other URL is
	// guarded by the expected digest.
	validator string

	mu      sync.Mutex
	pending []span // spans nobody is fetching, by start
	ahead   []span // spans written past the prefix, by start
	prefix  int64  // the end of the bytes hashed, or being hashed
	hashing bool   // a connection is hashing up to prefix (sink.written is its own)
	got     int64  // bytes written, for Progress
	err     error  // the first error that ends the download
	last    error  // the last error of a connection that gave up

	// guard, with [Options.KeepPartial], is the guard of the partial
	// file, written with the spans it holds when the download starts and
	// then after each guardAfter bytes (at guarded), so that a process
	// killed outright leaves them to the next.
	guard   *guard
	guarded int64
	guardMu sync.Mutex // held while the guard is written
}

// segmentable reports whether the response resp of u, about to be read,
// may be split: a download to a file only, whose size is known and large
// enough, from a server that accepts ranges (Accept-Ranges: bytes), with a
// validator or an expected digest to guard the spans, and whose ranges did
// not fail it before. A download that resumes spans kept by an earlier
// segmented download fetches only the holes between them, on one
// connection or more, whatever the size, when the server answered the
// range asked.
func (d *download) segmentable(u *url.URL, resp *Response) bool {
	f := d.f
	if d.unsplit || d.req.Path == "" || d.req.Writer != nil || resp.Size < 0 || resp.Offset != d.sink.written {
		return false
	}
	if d.validatorFor(u) == "" && len(d.sink.want) == 0 {
		return false
	}
	ranges := strings.EqualFold(strings.TrimSpace(resp.Header.Get("Accept-Ranges")), "bytes")
	if len(d.sink.done) > 0 {
		return ranges || resp.Status == http.StatusPartialContent
	}
	return ranges && f.segments >= 2 && resp.Size-resp.Offset >= 2*f.minSegment
}

// attemptState is what an attempt hands to a segmented download: its
// response, the body to read, its stall timer and what ends it.
type attemptState struct {
	resp    *Response
	body    io.ReadCloser
	stall   *stallTimer
	cancel  context.CancelCauseFunc // cancels the attempt's context
	fail    func(error) error       // names a stall or a cancellation
	release func()                  // gives back the attempt's Limiter slot
}

// segmented reads the file of u on several connections: the attempt's own
// response streams the first span and each following one that no other
// connection took yet; up to [Options.Segments]-1 more connections, each
// holding its own Limiter slot, fetch the others with range requests to u
// and, when the request has an expected digest, to its other URLs. A span
// whose connection fails goes back to be taken over from where it stopped.
// It returns when the whole file is written and hashed, or with the error
// that ends the attempt; the bytes hashed so far stay in the sink.
func (d *download) segmented(ctx context.Context, u *url.URL, a attemptState) error {
	start, size := a.resp.Offset, a.resp.Size
	kept := d.sink.done // in s.ahead while the download runs
	if n := len(kept); n > 0 && kept[n-1].end > size {
		kept = nil
	}
	d.sink.done = nil
	s := &segmented{d: d, size: size, urls: []*url.URL{u}, validator: d.validatorFor(u), prefix: start, ahead: slices.Clone(kept)}
	s.got = start + spanBytes(kept)
	file, err := d.sink.file()
	if err == nil {
		err = s.startGuard()
	}
	if err != nil {
		a.body.Close()
		return err
	}
	s.file = file
	if len(d.sink.want) > 0 {
		for _, m := range d.urls {
			if m.String() != u.String() {
				s.urls = append(s.urls, m)
			}
		}
	}
	s.ctx, s.stop = context.WithCancelCause(ctx)
	defer s.stop(nil)
	holes := gaps(start, size, kept)
	n := max(1, min(int64(d.f.segments), spanBytes(holes)/d.f.minSegment))
	pieces := n
	if d.f.adapt {
		// Spans left for the connections opened later.
		pieces = max(1, min(4*n, spanBytes(holes)/d.f.minSegment))
	}
	s.pending = split(holes, pieces, size)
	if len(s.pending) == 0 {
		a.body.Close()
		return s.end(u, ctx)
	}
	first := s.pending[0]
	s.pending = s.pending[1:]

	var wg sync.WaitGroup
	workers := min(int(n)-1, len(s.pending))
	open := func(i int) { wg.Go(func() { s.work(s.urls[(i+1)%len(s.urls)], nil, 0, span{}) }) }
	firstDone := make(chan struct{}) // the first connection found nothing left to take
	adapted := make(chan struct{})
	if d.f.adapt && workers > 1 {
		open(0)
		go func() {
			defer close(adapted)
			s.adapt(workers, open, firstDone)
		}()
	} else {
		close(adapted)
		for i := range workers {
			open(i)
		}
	}
	// The attempt's own connection: its body holds the file from start on.
	// It stops at once when the download ends.
	unhook := context.AfterFunc(s.ctx, func() { a.cancel(context.Cause(s.ctx)) })
	pos, end, err := s.fill(a.body, first.start, first.end, true, a.stall)
	unhook()
	a.stall.pause()
	a.body.Close()
	a.cancel(nil)
	a.release()
	if err != nil {
		err = a.fail(fmt.Errorf("%s: %w", u.Redacted(), err))
	}
	s.work(u, err, first.start, span{pos, end})
	close(firstDone)
	<-adapted // opens no connection after this
	wg.Wait()
	return s.end(u, ctx)
}

// end returns what the download came to, once every connection is done.
// The spans written past the hashed prefix stay the sink's, for the next
// attempt or, with their guard, the next download.
func (s *segmented) end(u *url.URL, ctx context.Context) error {
	d, size := s.d, s.size
	for _, sp := range s.ahead {
		if sp.start > d.sink.written {
			d.sink.done = append(d.sink.done, sp)
		}
	}
	if s.guard != nil {
		d.sink.pending = s.guard
	}
	// The next writes of the sink, if any, go after the hashed prefix.
	if _, err := s.file.Seek(d.sink.written, io.SeekStart); err != nil {
		return &sinkError{err}
	}
	switch {
	case s.err != nil:
		return s.err
	case d.sink.written < size:
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", u.Redacted(), ctx.Err())
		}
		if s.last != nil {
			return s.last
		}
		return fmt.Errorf("%s: segments ended at byte %d of %d: %w", u.Redacted(), d.sink.written, size, io.ErrUnexpectedEOF)
	}
	return nil
}

// work fetches spans from u until none is left, each with a range request
// made in a Limiter slot of its own, taken anew for every span, so that a
// host that throttles (see Limiter) is asked no more than it allows. A
// failure, after the wait that retryState.failed decides (without a slot),
// is followed by another try: the rules of every attempt hold for each
// connection. The rest of the failed span is given back once that decision
// is made, so that a 429 or 503 has closed the host to the connection that
// takes it over. A URL other than the first response's that gives up
// leaves its spans to that one; an error that no attempt can mend ends the
// download. err, when not nil, is the failure of the connection that
// streamed the first response, from start, with rest left to fetch.
func (s *segmented) work(u *url.URL, err error, start int64, rest span) {
	r := s.d.f.newRetryState(u)
	for s.ctx.Err() == nil {
		if err != nil {
			wait, gaveUp := r.failed(err, rest.start-start)
			s.giveBack(rest)
			if s.ctx.Err() != nil {
				return
			}
			switch {
			case gaveUp == nil:
				s.d.f.log.Info("fetch: retrying segment", "url", u.Redacted(), "err", err, "wait", wait)
				if !sleep(s.ctx, wait) {
					return
				}
			case u != s.urls[0] && !isFinal(gaveUp):
				s.d.f.log.Info("fetch: segment leaves mirror", "url", u.Redacted(), "err", gaveUp)
				u, err = s.urls[0], nil
				r = s.d.f.newRetryState(u)
				continue
			case isFinal(gaveUp) || !isTemporary(gaveUp, new(*TemporaryError)):
				s.fail(gaveUp)
				return
			default:
				s.mu.Lock()
				s.last = gaveUp
				s.mu.Unlock()
				return
			}
		}
		release, aerr := s.d.f.limiter.Acquire(s.ctx, hostKey(u))
		if aerr != nil {
			return
		}
		sp, ok := s.take()
		if !ok {
			release()
			return
		}
		var pos int64
		pos, err = s.fetch(u, sp)
		release()
		if err == nil {
			r.succeeded()
		}
		start, rest = sp.start, span{pos, sp.end}
	}
}

// adaptWindow is how long a segmented download with
// [Options.AdaptSegments] measures its rate before it opens another
// connection.
const adaptWindow = 200 * time.Millisecond

// adapt opens connections 2 to workers-1 with open, one a window, while
// each one opened raised the rate of the download by at least half the
// share of a connection, and while spans are left for it, until done is
// closed. The first window after a connection opened is not measured: it
// connects and asks; the second is.
func (s *segmented) adapt(workers int, open func(i int), done <-chan struct{}) {
	t := time.NewTicker(adaptWindow)
	defer t.Stop()
	// tick waits for the next tick and returns the bytes written then,
	// or false when the download no longer needs another connection.
	tick := func() (int64, bool) {
		select {
		case <-s.ctx.Done():
			return 0, false
		case <-done:
			return 0, false
		case <-t.C:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.got, len(s.pending) > 0
	}
	var before float64 // the rate before the last connection opened
	for i := 1; i < workers; i++ {
		from, ok := tick()
		if !ok {
			return
		}
		to, ok := tick()
		if !ok {
			return
		}
		rate := float64(to - from)
		active := float64(i + 1)
		if before > 0 && rate < before*(1+0.5/(active-1)) {
			s.d.f.log.Debug("fetch: segments adapted", "connections", i+1, "rate", rate/adaptWindow.Seconds())
			return
		}
		before = rate
		open(i)
	}
}

// fail ends the download with err, unless it already ended.
func (s *segmented) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.stop(err)
}

// take returns the last span nobody is fetching. The spans are taken from
// the end of the file while the first response streams on from its start,
// claiming span after span: it stops only where it meets the others, when
// nothing is left to take, so that it never leaves a connection half read
// to open another.
func (s *segmented) take() (span, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return span{}, false
	}
	sp := s.pending[len(s.pending)-1]
	s.pending = s.pending[:len(s.pending)-1]
	return sp, true
}

// claimAt returns the end of the span that starts at pos, which the caller
// now fetches, or pos when no pending span starts there.
func (s *segmented) claimAt(pos int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 && s.pending[0].start == pos {
		end := s.pending[0].end
		s.pending = s.pending[1:]
		return end
	}
	return pos
}

// giveBack returns the unfetched rest of a span, to be taken over.
func (s *segmented) giveBack(sp span) {
	if sp.start >= sp.end {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := slices.BinarySearchFunc(s.pending, sp.start, func(p span, start int64) int { return cmp.Compare(p.start, start) })
	s.pending = slices.Insert(s.pending, i, sp)
}

// fetch opens sp of u on a connection of its own and writes it to the
// file. It returns the position reached.
func (s *segmented) fetch(u *url.URL, sp span) (int64, error) {
	d := s.d
	validator := ""
	if u == s.urls[0] {
		validator = s.validator
	}
	actx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	stall := startStall(d.f.stall, cancel)
	defer stall.pause()
	fail := func(err error) error {
		if s.ctx.Err() != nil {
			// Another connection ended the download, or ctx did.
			return fmt.Errorf("%s: %w", u.Redacted(), context.Cause(s.ctx))
		}
		return d.interrupted(s.ctx, actx, u, err)
	}
	s.mu.Lock()
	d.attempts++
	s.mu.Unlock()
	resp, body, err := d.f.protocols[u.Scheme].Open(actx, &OpenRequest{
		URL: u, Offset: sp.start, Length: sp.end - sp.start, Validator: validator, Header: d.headers(u), Alive: stall.alive,
	})
	if err != nil {
		return sp.start, fail(err)
	}
	defer body.Close()
	// A range answered from another byte, with another size or with
	// another validator: the file changed, or the server serves no
	// ranges after all (a range answered without a validator is guarded
	// by If-Range alone).
	if v := validatorOf(resp.Header); resp.Offset != sp.start || resp.Size != s.size || validator != "" && v != "" && v != validator {
		err := fmt.Errorf("%s: the file changed or the server ignored the range: asked for bytes %d-%d of %d, got byte %d on of %d",
			u.Redacted(), sp.start, sp.end-1, s.size, resp.Offset, resp.Size)
		if u == s.urls[0] {
			// The next attempt, on one connection, finds out whether
			// the file changed.
			s.mu.Lock()
			d.unsplit = true
			s.mu.Unlock()
			s.fail(err)
		}
		return sp.start, &TemporaryError{Err: err}
	}
	pos, _, err := s.fill(body, sp.start, sp.end, false, stall)
	if err != nil {
		return pos, fail(fmt.Errorf("%s: %w", u.Redacted(), err))
	}
	return pos, nil
}

// fill writes r, which holds the file from pos on, to the file up to end,
// and then, with chain, on through each following span that nobody took
// yet. It returns the position reached and the end of the spans it took.
func (s *segmented) fill(r io.Reader, pos, end int64, chain bool, stall *stallTimer) (int64, int64, error) {
	bp := s.d.f.buffers.Get().(*[]byte)
	defer s.d.f.buffers.Put(bp)
	buf := s.d.f.rate.chunk(*bp)
	for pos < end {
		n, rerr := r.Read(buf[:min(int64(len(buf)), end-pos)])
		if n > 0 {
			stall.pause()
			if err := s.d.f.rate.wait(s.ctx, n); err != nil {
				return pos, end, err
			}
			if _, err := s.file.WriteAt(buf[:n], pos); err != nil {
				return pos, end, &sinkError{err}
			}
			s.d.f.stats.bytes.Add(int64(n))
			if err := s.wrote(pos, buf[:n]); err != nil {
				return pos, end, err
			}
			pos += int64(n)
			stall.alive()
			if pos == end && chain {
				end = s.claimAt(end)
			}
		}
		if rerr == io.EOF && pos < end {
			return pos, end, fmt.Errorf("body ended at byte %d, span ends at %d: %w", pos, end, io.ErrUnexpectedEOF)
		}
		if rerr != nil && rerr != io.EOF {
			return pos, end, rerr
		}
		if s.ctx.Err() != nil {
			return pos, end, context.Cause(s.ctx)
		}
	}
	return pos, end, nil
}

// wrote records that p is in the file at off, and hashes what became the
// contiguous prefix: p itself when it extends the prefix, then the spans
// written ahead that now follow it, read back from the file. One
// connection hashes at a time, outside the lock; a span written while it
// does waits in ahead, where it finds it.
func (s *segmented) wrote(off int64, p []byte) error {
	end := off + int64(len(p))
	s.mu.Lock()
	s.got += int64(len(p))
	if s.d.req.Progress != nil {
		s.d.req.Progress(s.got, s.size)
	}
	hash := !s.hashing && off == s.prefix
	if hash {
		s.hashing, s.prefix = true, end
	} else {
		s.writtenAhead(off, end)
	}
	var spans [][2]int64
	if s.guard != nil && s.got-s.guarded >= guardAfter {
		s.guarded, spans = s.got, s.spans()
	}
	s.mu.Unlock()
	if spans != nil {
		if err := s.writeGuard(spans); err != nil {
			return err
		}
	}
	if !hash {
		return nil
	}
	s.d.sink.hashed(p)
	return s.hashAhead()
}

// startGuard writes the guard of the partial file with the spans it holds
// before any span is written out of order, so that a guard left from
// before, which may say that the partial file holds the first bytes of the
// file, all of it, never describes a file with holes. Without
// [Options.KeepPartial], or with nothing to guard the bytes, it removes
// any guard, and the partial file is not kept.
func (s *segmented) startGuard() error {
	sk := s.d.sink
	g := sk.guardOf(s.d.source, s.d.validator)
	if !sk.keep || !sk.resumable(g) {
		return sk.unguard()
	}
	sk.pending = nil
	s.guard, s.guarded = &g, s.got
	return s.writeGuard(s.spans())
}

// spans returns the spans of the file in the partial file: the prefix
// (possibly empty, but always there, so that the guard has spans) and
// those written ahead. s.mu is held, or no connection runs.
func (s *segmented) spans() [][2]int64 {
	return appendSpans([][2]int64{{0, s.prefix}}, s.ahead)
}

// writeGuard writes the guard of the partial file with spans.
func (s *segmented) writeGuard(spans [][2]int64) error {
	g := *s.guard
	g.Spans = spans
	s.guardMu.Lock()
	defer s.guardMu.Unlock()
	return s.d.sink.saveGuard(g)
}

// gaps returns the spans of [start, end) that are not in kept, which is
// in order.
func gaps(start, end int64, kept []span) []span {
	var holes []span
	for _, k := range kept {
		if k.start > start {
			holes = append(holes, span{start, min(k.start, end)})
		}
		start = max(start, k.end)
	}
	if start < end {
		holes = append(holes, span{start, end})
	}
	return holes
}

// split cuts holes into about n spans of equal size. A first hole that
// ends before the end of the file stays whole: the first response, asked
// for it alone, streams all of it.
func split(holes []span, n int64, size int64) []span {
	piece := max(1, (spanBytes(holes)+n-1)/n)
	var spans []span
	for i, h := range holes {
		k := (h.end - h.start + piece - 1) / piece
		if i == 0 && h.end < size {
			k = 1
		}
		for i := range k {
			spans = append(spans, span{h.start + i*(h.end-h.start)/k, h.start + (i+1)*(h.end-h.start)/k})
		}
	}
	return spans
}

// spanBytes returns the bytes that spans hold.
func spanBytes(spans []span) int64 {
	var n int64
	for _, sp := range spans {
		n += sp.end - sp.start
	}
	return n
}

// writtenAhead records that [off, end) is in the file, past the prefix
// being hashed. s.mu is held.
func (s *segmented) writtenAhead(off, end int64) {
	i, _ := slices.BinarySearchFunc(s.ahead, off, func(a span, start int64) int { return cmp.Compare(a.start, start) })
	switch {
	case i > 0 && s.ahead[i-1].end == off:
		s.ahead[i-1].end = end
		if i < len(s.ahead) && s.ahead[i].start == end {
			s.ahead[i-1].end = s.ahead[i].end
			s.ahead = slices.Delete(s.ahead, i, i+1)
		}
	case i < len(s.ahead) && s.ahead[i].start == end:
		s.ahead[i].start = off
	default:
		s.ahead = slices.Insert(s.ahead, i, span{off, end})
	}
}

// hashAhead hashes the spans written ahead that follow the prefix, read
// back from the file, until none does. Its caller is the one connection
// that hashes.
func (s *segmented) hashAhead() error {
	for {
		s.mu.Lock()
		if len(s.ahead) == 0 || s.ahead[0].start != s.prefix {
			s.hashing = false
			s.mu.Unlock()
			return nil
		}
		sp := s.ahead[0]
		s.ahead, s.prefix = s.ahead[1:], sp.end
		s.mu.Unlock()
		if err := s.hashFile(sp.end); err != nil {
			s.mu.Lock()
			s.hashing = false
			s.mu.Unlock()
			return err
		}
	}
}

// hashFile hashes the file from the hashed prefix up to end.
func (s *segmented) hashFile(end int64) error {
	sk := s.d.sink
	bp := s.d.f.buffers.Get().(*[]byte)
	defer s.d.f.buffers.Put(bp)
	err := sk.hashFrom(context.Background(), io.NewSectionReader(s.file, sk.written, end-sk.written), *bp)
	if err == nil && sk.written < end {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return &sinkError{fmt.Errorf("reading back %s: %w", s.file.Name(), err)}
	}
	return nil
}
