package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fetchkit/fetch"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// An item is one file of a run, from the time it is queued to its Result
// (Request.Tag).
type item struct {
	name     string // shown in the progress view
	expected int64  // expected size; 0 while unknown

	written atomic.Int64 // bytes written so far by the transfer

	// Used by the transfer only, until its Result is read.
	bar     *mpb.Bar
	started time.Time
	shown   time.Time // last update of bar
}

// A report counts the files of a run, shows its progress, prints each
// failure as it happens and the summary at the end. Its methods are safe
// for concurrent use.
type report struct {
	w     io.Writer
	quiet bool
	start time.Time
	live  *liveView // nil when the output is not a terminal

	// planned is the number of files of the run, when known before it
	// starts (plan); total then counts the bytes of them all, less those
	// skipped, rather than those of the files queued so far.
	planned                                  atomic.Int64
	queued, done, skipped, failed, cancelled atomic.Int64
	trusted                                  atomic.Int64 // of skipped: in place, not read (Result.Trusted)
	rejected                                 atomic.Int64 // failed before a transfer: not queued
	partials                                 atomic.Int64 // failed or cancelled with bytes kept
	bytes                                    atomic.Int64 // of the files done
	received                                 func() int64 // bytes received from servers (Fetcher.Stats), when known
	current, total                           atomic.Int64 // bytes so far, and expected

	// onResult, if set, is called with each Result after it is counted,
	// from the goroutine that reads them.
	onResult func(fetch.Result)

	mu sync.Mutex // serializes output
}

// newReport returns the report of a run that prints to w, with a live view
// when w is a terminal, unless quiet, or typing, which says that the user
// types the input on the same terminal.
func newReport(w io.Writer, quiet, typing bool) *report {
	r := &report{w: w, quiet: quiet, start: time.Now()}
	if !quiet && !typing && isTerminal(w) {
		r.live = newLiveView(w, r)
	}
	return r
}

// isTerminal reports whether f (a writer or a reader) is a terminal that
// can show a live view.
func isTerminal(rw any) bool {
	f, ok := rw.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// plan sets the number of files of the run and their bytes, when they are
// known before it starts.
func (r *report) plan(files, bytes int64) {
	r.planned.Store(files)
	r.total.Store(bytes)
}

// request sets the fields of req that show and count its progress, and
// counts it as queued.
func (r *report) request(req *fetch.Request, name string) {
	it := &item{name: name, expected: req.Size}
	req.Tag = it
	req.Progress = func(written, total int64) { r.progress(it, written, total) }
	r.queued.Add(1)
	if r.planned.Load() == 0 {
		r.total.Add(it.expected)
	}
}

// progress is called by the transfer of it as bytes arrive.
func (r *report) progress(it *item, written, total int64) {
	r.current.Add(written - it.written.Swap(written))
	if it.expected == 0 && total > 0 {
		it.expected = total
		if r.planned.Load() == 0 {
			r.total.Add(total)
		}
	}
	if r.live != nil {
		r.live.progress(it, written)
	}
}

// result counts res, and prints it if it failed. ctx is the run's context:
// transfers cut short by its end count as cancelled, not failed.
func (r *report) result(ctx context.Context, res fetch.Result) {
	it := res.Request.Tag.(*item)
	written := it.written.Load()
	if r.live != nil {
		r.live.remove(it)
	}
	switch {
	case res.Skipped:
		r.queued.Add(-1)
		r.skipped.Add(1)
		if res.Trusted {
			r.trusted.Add(1)
		}
	case res.Err == nil:
		r.done.Add(1)
		r.bytes.Add(res.Size)
		r.current.Add(res.Size - written)
		if it.expected == 0 && r.planned.Load() == 0 {
			r.total.Add(res.Size)
		}
		return
	case ctx.Err() != nil && errors.Is(res.Err, ctx.Err()):
		r.cancelled.Add(1)
	default:
		r.failed.Add(1)
		u := redact(res.Request.URL)
		r.printf("FAIL %s: %s%s\n", u, oneLine(strings.TrimPrefix(res.Err.Error(), u+": ")), hint(res.Err))
	}
	if res.Partial > 0 {
		r.partials.Add(1)
	}
	r.current.Add(-written)
	r.total.Add(-it.expected)
}

// fail counts and prints a file that failed before its transfer: where is
// the URL or line that named it.
func (r *report) fail(where string, err error) {
	r.failed.Add(1)
	r.rejected.Add(1)
	r.printf("FAIL %s: %s%s\n", where, oneLine(err.Error()), hint(err))
}

// printf prints a line above the live view, if any, with the control
// characters of its text escaped (see escape).
func (r *report) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	line = escape(strings.TrimSuffix(line, "\n")) + "\n"
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live != nil {
		io.WriteString(r.live.p, line)
		return
	}
	io.WriteString(r.w, line)
}

// escape returns s with the characters that a terminal would act on
// written as Go escapes ("\x1b", "\r", "\u009b"): file names, URLs
// and server replies come from others, and must not move the cursor,
// change colours or rewrite a line. Invalid UTF-8 is escaped too.
func escape(s string) string {
	clean := true
	for _, c := range s {
		if c < ' ' || c == 0x7f || c >= 0x80 && c < 0xa0 || c == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		c, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case c == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case c < ' ' || c == 0x7f || c >= 0x80 && c < 0xa0:
			q := strconv.QuoteRune(c)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
	}
	return b.String()
}

// finish stops the live view and prints the summary, with why the run
// stopped early if it did (nil if it did not).
func (r *report) finish(stopped error) {
	if r.live != nil {
		r.live.stop()
	}
	if r.quiet {
		return
	}
	elapsed := time.Since(r.start)
	var b strings.Builder
	if stopped != nil && isTerminal(r.w) {
		b.WriteString("\n") // after the ^C that the terminal echoed
	}
	b.WriteString("fetch: ")
	if stopped != nil {
		fmt.Fprintf(&b, "%v: ", stopped)
	}
	fmt.Fprintf(&b, "%d done, %d skipped, %d failed", r.done.Load(), r.skipped.Load(), r.failed.Load())
	if n := r.cancelled.Load(); n > 0 {
		fmt.Fprintf(&b, ", %d cancelled", n)
	}
	if n := r.skipped.Load(); n > 0 {
		trusted := r.trusted.Load()
		fmt.Fprintf(&b, "; in place: %d trusted, %d hashed", trusted, n-trusted)
	}
	// Files resumed from kept bytes are done with fewer bytes received
	// than they hold: the rate is then that of the bytes received.
	bytes := r.bytes.Load()
	fmt.Fprintf(&b, "; %s in %s", formatBytes(bytes), formatDuration(elapsed))
	if r.received != nil {
		if got := r.received(); got < bytes {
			bytes = got
			fmt.Fprintf(&b, ", %s received", formatBytes(got))
		}
	}
	fmt.Fprintf(&b, " (%s/s)", formatBytes(rate(bytes, elapsed)))
	if n := r.partials.Load(); n > 0 {
		fmt.Fprintf(&b, "; %d partial %s kept; run again to resume", n, plural(int(n), "file", "files"))
	}
	b.WriteString("\n")
	r.mu.Lock()
	defer r.mu.Unlock()
	io.WriteString(r.w, b.String())
}

// hint returns what a user can do about err, in parentheses after a
// space, or "".
func hint(err error) string {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return " (to trust the server's certificate, give its CA with -cacert FILE)"
	}
	return ""
}

// oneLine joins the lines of s (errors.Join makes several) with "; ".
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// redact returns rawURL with its password hidden, by the library's rule.
func redact(rawURL string) string { return fetch.RedactURL(rawURL) }

// rate returns bytes per second.
func rate(bytes int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(bytes) / d.Seconds())
}

// formatDuration rounds d to what a reader needs: microseconds under a
// millisecond, milliseconds under a second, tenths of a second under a
// minute, seconds above.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// formatBytes formats n bytes in binary units: "512 B", "1.5 MiB".
func formatBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}

// liveView draws the progress of a run on a terminal: a line for the whole
// run (files, bytes, rate, ETA) and a bar for each transfer, removed when
// the transfer ends.
type liveView struct {
	r    *report
	p    *mpb.Progress
	all  *mpb.Bar
	quit chan struct{}
	wg   sync.WaitGroup

	nameWidth int // of the column of file names

	mu   sync.Mutex
	bars map[*item]*mpb.Bar
}

func newLiveView(w io.Writer, r *report) *liveView {
	v := &liveView{r: r, quit: make(chan struct{}), bars: map[*item]*mpb.Bar{}, nameWidth: 32}
	if width, _, err := term.GetSize(int(w.(*os.File).Fd())); err == nil {
		v.nameWidth = min(max(width/3, 12), 40)
	}
	nameWidth := v.nameWidth
	v.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(30), mpb.WithRefreshRate(200*time.Millisecond))
	v.all = v.p.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return v.files() }, decor.WC{W: nameWidth, C: decor.DindentRight | decor.DextraSpace})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return v.bytes() })),
	)
	v.wg.Go(v.refresh)
	return v
}

// files describes the files of the run.
func (v *liveView) files() string {
	r := v.r
	files := r.planned.Load()
	if files == 0 {
		files = r.queued.Load() + r.skipped.Load() + r.rejected.Load()
	}
	s := fmt.Sprintf("%d/%d files", r.done.Load()+r.skipped.Load()+r.failed.Load(), files)
	if n := r.failed.Load(); n > 0 {
		s += fmt.Sprintf(", %d failed", n)
	}
	return s
}

// bytes describes the bytes of the run: so far, expected, rate, and the
// time left when the run's files are known from the start.
func (v *liveView) bytes() string {
	r := v.r
	cur, total := r.current.Load(), r.total.Load()
	speed := rate(cur, time.Since(r.start))
	s := progressText(cur, total, speed)
	if r.planned.Load() > 0 && speed > 0 && total > cur {
		eta := time.Duration(float64(total-cur) / float64(speed) * float64(time.Second))
		s += "  ETA " + eta.Round(time.Second).String()
	}
	return s
}

// progressText describes a transfer: bytes so far, of total when known,
// and rate.
func progressText(cur, total, speed int64) string {
	if total < cur || total <= 0 {
		return fmt.Sprintf("%s  %s/s", formatBytes(cur), formatBytes(speed))
	}
	return fmt.Sprintf("%s / %s  %s/s", formatBytes(cur), formatBytes(total), formatBytes(speed))
}

// refresh keeps the run's bar in step with the counts until stop.
func (v *liveView) refresh() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.quit:
			return
		case <-t.C:
			v.all.SetTotal(max(v.r.total.Load(), 0), false)
			v.all.SetCurrent(max(v.r.current.Load(), 0))
		}
	}
}

// progress shows the transfer of it, at most every 100ms.
func (v *liveView) progress(it *item, written int64) {
	now := time.Now()
	if it.bar == nil {
		it.started = now
		it.bar = v.p.New(0, mpb.BarStyle(),
			mpb.PrependDecorators(decor.Name(shorten(escape(it.name), v.nameWidth-1), decor.WC{W: v.nameWidth, C: decor.DindentRight | decor.DextraSpace})),
			mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
				return progressText(s.Current, s.Total, rate(s.Current, time.Since(it.started)))
			})),
		)
		v.mu.Lock()
		v.bars[it] = it.bar
		v.mu.Unlock()
	} else if now.Sub(it.shown) < 100*time.Millisecond && written != it.expected {
		return
	}
	it.shown = now
	it.bar.SetTotal(it.expected, false)
	it.bar.SetCurrent(written)
}

// remove removes the bar of it, if any.
func (v *liveView) remove(it *item) {
	v.mu.Lock()
	delete(v.bars, it)
	v.mu.Unlock()
	if it.bar != nil {
		it.bar.Abort(true)
	}
}

// stop removes every bar and waits for the view to be drawn a last time.
func (v *liveView) stop() {
	close(v.quit)
	v.wg.Wait()
	v.mu.Lock()
	for it, bar := range v.bars {
		bar.Abort(true)
		delete(v.bars, it)
	}
	v.mu.Unlock()
	v.all.Abort(true)
	v.p.Wait()
}

// shorten cuts s to at most n runes, keeping its end.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
