package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// scripted is a Protocol whose Open is a function of the attempt number (1
// for the first), and which counts what the Fetcher did with it.
type scripted struct {
	open func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error)

	opens atomic.Int64
	mu    sync.Mutex
	reqs  []fetch.OpenRequest
	// bodies open now and at most, in all and by host
	open1, most  int
	host, mostBy map[string]int
}

func (p *scripted) Open(ctx context.Context, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
	n := int(p.opens.Add(1))
	p.mu.Lock()
	p.reqs = append(p.reqs, *req)
	p.mu.Unlock()
	resp, body, err := p.open(n, req)
	if err != nil {
		return nil, nil, err
	}
	h := req.URL.Host
	p.mu.Lock()
	if p.host == nil {
		p.host, p.mostBy = map[string]int{}, map[string]int{}
	}
	p.open1++
	p.host[h]++
	p.most, p.mostBy[h] = max(p.most, p.open1), max(p.mostBy[h], p.host[h])
	p.mu.Unlock()
	return resp, &countedBody{ReadCloser: body, close: func() {
		p.mu.Lock()
		p.open1--
		p.host[h]--
		p.mu.Unlock()
	}}, nil
}

type countedBody struct {
	io.ReadCloser
	once  sync.Once
	close func()
}

func (b *countedBody) Close() error {
	b.once.Do(b.close)
	return b.ReadCloser.Close()
}

// request returns what Open was asked the nth time.
func (p *scripted) request(n int) fetch.OpenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reqs[n-1]
}

// memResponse answers req from data, from req.Offset on.
func memResponse(req *fetch.OpenRequest, data []byte, etag string) (*fetch.Response, io.ReadCloser) {
	off := min(req.Offset, int64(len(data)))
	h := http.Header{}
	if etag != "" {
		h.Set("Etag", etag)
	}
	return &fetch.Response{URL: req.URL.Redacted(), Status: 200, Header: h, Size: int64(len(data)), Offset: off},
		io.NopCloser(bytes.NewReader(data[off:]))
}

// breakingReader gives n bytes of r, then fails.
type breakingReader struct {
	r io.Reader
	n int
}

var errBroken = errors.New("connection reset by peer")

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, errBroken
	}
	p = p[:min(len(p), b.n)]
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

// TestProtocolPlugin: a Protocol only opens; the Fetcher retries, resumes
// and checks for it.
func TestProtocolPlugin(t *testing.T) {
	t.Parallel()
	data := fetchtest.Blob(100<<10, 20)
	wrong := fetchtest.Blob(100<<10, 21)
	errCases := []struct {
		name     string
		err      error
		attempts int
		is       func(error) bool
	}{
		{"temporary", &fetch.TemporaryError{Err: errors.New("busy")}, 4, func(err error) bool { var te *fetch.TemporaryError; return errors.As(err, &te) }},
		{"not found", fmt.Errorf("mem: %w", fetch.ErrNotFound), 1, func(err error) bool { return errors.Is(err, fetch.ErrNotFound) }},
		{"invalid", fmt.Errorf("%w: bad bucket", fetch.ErrInvalidRequest), 1, func(err error) bool { return errors.Is(err, fetch.ErrInvalidRequest) }},
		{"status", &fetch.StatusError{URL: "mem://x/f", Code: 403}, 1, func(err error) bool { var se *fetch.StatusError; return errors.As(err, &se) }},
		{"network", errBroken, 4, func(err error) bool { return errors.Is(err, errBroken) }},
	}
	for _, tc := range errCases {
		t.Run("error "+tc.name, func(t *testing.T) {
			t.Parallel()
			p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
				return nil, nil, tc.err
			}}
			f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}})
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "mem://x/f"})
			if !tc.is(err) {
				t.Errorf("error: got %v; want %v", err, tc.err)
			}
			if res.Attempts != tc.attempts {
				t.Errorf("Attempts: got %d; want %d", res.Attempts, tc.attempts)
			}
		})
	}

	t.Run("fails twice then works", func(t *testing.T) {
		t.Parallel()
		p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
			if n <= 2 {
				return nil, nil, &fetch.TemporaryError{Err: errors.New("busy")}
			}
			resp, body := memResponse(req, data, "")
			return resp, body, nil
		}}
		f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}})
		var buf bytes.Buffer
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "mem://x/f", Writer: &buf, Digests: fetchtest.Digests(data)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Attempts != 3 || !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("got %d bytes after %d attempts; want %d after 3", buf.Len(), res.Attempts, len(data))
		}
	})

	t.Run("body breaks and resumes", func(t *testing.T) {
		t.Parallel()
		const cut = 40000
		p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
			resp, body := memResponse(req, data, `"v"`)
			if n == 1 {
				body = io.NopCloser(&breakingReader{r: body, n: cut})
			}
			return resp, body, nil
		}}
		f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}})
		var buf bytes.Buffer
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "mem://x/f", Writer: &buf})
		if err != nil {
			t.Fatal(err)
		}
		if res.Attempts != 2 || !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("got %d bytes after %d attempts; want %d after 2", buf.Len(), res.Attempts, len(data))
		}
		if r := p.request(2); r.Offset != cut || r.Validator != `"v"` {
			t.Errorf("second Open: got offset %d, validator %q; want %d, %q", r.Offset, r.Validator, cut, `"v"`)
		}
	})

	t.Run("digest mismatch", func(t *testing.T) {
		t.Parallel()
		p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
			resp, body := memResponse(req, wrong, "")
			return resp, body, nil
		}}
		f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}})
		res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "mem://x/f", Digests: fetchtest.Digests(data)})
		var de *fetch.DigestError
		if !errors.As(err, &de) || res.Attempts != 1 {
			t.Errorf("got %v after %d attempts; want a DigestError after 1", err, res.Attempts)
		}
	})

	t.Run("size refused before the body", func(t *testing.T) {
		t.Parallel()
		var read atomic.Bool
		p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
			resp, _ := memResponse(req, data, "")
			return resp, io.NopCloser(readFunc(func([]byte) (int, error) { read.Store(true); return 0, io.EOF })), nil
		}}
		f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}})
		_, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "mem://x/f", Size: int64(len(data)) - 1})
		var se *fetch.SizeError
		if !errors.As(err, &se) || se.Actual != int64(len(data)) {
			t.Errorf("error: got %v; want a SizeError with Actual %d", err, len(data))
		}
		if read.Load() {
			t.Errorf("the body was read")
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(fetchtest.Context(t))
		p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
			resp, _ := memResponse(req, data, "")
			return resp, io.NopCloser(readFunc(func([]byte) (int, error) {
				cancel()
				<-ctx.Done() // a body that stops when ctx is done
				return 0, ctx.Err()
			})), nil
		}}
		f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}})
		res, err := f.Fetch(ctx, fetch.Request{URL: "mem://x/f"})
		if !errors.Is(err, context.Canceled) || res.Attempts != 1 {
			t.Errorf("got %v after %d attempts; want context.Canceled after 1", err, res.Attempts)
		}
	})
}

// TestProtocolThrottled: a Protocol's HTTP 429 uses up no retry, as the
// Fetcher's own HTTP does, whatever the URL's scheme; the same code as an
// FTP reply is an ordinary failure.
func TestProtocolThrottled(t *testing.T) {
	t.Parallel()
	data := fetchtest.Blob(1<<10, 22)
	for _, tc := range []struct {
		name     string
		ftp      bool
		attempts int // with 3 retries, after 5 answers of 429
		ok       bool
	}{
		{"http status", false, 6, true},
		{"ftp reply", true, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
				if n <= 5 {
					return nil, nil, &fetch.TemporaryError{Err: &fetch.StatusError{URL: "mem://x/f", Code: http.StatusTooManyRequests, FTP: tc.ftp}}
				}
				resp, body := memResponse(req, data, "")
				return resp, body, nil
			}}
			f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}})
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "mem://x/f"})
			if (err == nil) != tc.ok || res.Attempts != tc.attempts {
				t.Errorf("got %v after %d attempts; want success %v after %d", err, res.Attempts, tc.ok, tc.attempts)
			}
		})
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// TestProtocolLimits: transfers of a Protocol stay within the Limiter.
func TestProtocolLimits(t *testing.T) {
	t.Parallel()
	data := fetchtest.Blob(64<<10, 22)
	p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
		resp, body := memResponse(req, data, "")
		return resp, body, nil
	}}
	f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}, Limiter: fetch.NewLimiter(4, 2)})
	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		for i := range 60 {
			reqs <- fetch.Request{URL: fmt.Sprintf("mem://host%d/f%d", i%3, i), Digests: fetchtest.Digests(data)}
		}
	}()
	n := 0
	for res := range f.FetchAll(fetchtest.Context(t), reqs) {
		if res.Err != nil {
			t.Error(res.Err)
		}
		n++
	}
	if n != 60 {
		t.Errorf("results: got %d; want 60", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.most > 4 {
		t.Errorf("bodies open at once: got %d; want at most 4", p.most)
	}
	for h, most := range p.mostBy {
		if most > 2 {
			t.Errorf("bodies open at once from %s: got %d; want at most 2", h, most)
		}
	}
}

// slowOpen is a Protocol whose Open takes several exchanges of step each,
// calling OpenRequest.Alive after each when alive is set.
type slowOpen struct {
	steps int
	step  time.Duration
	alive bool
	data  []byte
}

func (p *slowOpen) Open(ctx context.Context, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
	for range p.steps {
		t := time.NewTimer(p.step)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
		if p.alive {
			req.Alive()
		}
	}
	resp, body := memResponse(req, p.data, "")
	return resp, body, nil
}

// TestProtocolAlive: a Protocol that calls OpenRequest.Alive as its server
// answers is not stalled by an open that takes longer than StallTimeout in
// all; one that does not is.
func TestProtocolAlive(t *testing.T) {
	t.Parallel()
	const stall = 400 * time.Millisecond
	data := fetchtest.Blob(1000, 24)
	for _, alive := range []bool{true, false} {
		t.Run(fmt.Sprintf("alive=%v", alive), func(t *testing.T) {
			t.Parallel()
			p := &slowOpen{steps: 6, step: stall / 4, alive: alive, data: data}
			f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"slow": p}, StallTimeout: stall, Retries: -1})
			_, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "slow://x/f", Digests: fetchtest.Digests(data)})
			if alive && err != nil {
				t.Errorf("got %v; want success", err)
			}
			if !alive && !errors.Is(err, fetch.ErrStalled) {
				t.Errorf("got %v; want ErrStalled", err)
			}
		})
	}
}

// TestResolverPlugin: a Resolver decides the URLs of a request that names
// only one; mirror health still orders them.
func TestResolverPlugin(t *testing.T) {
	t.Parallel()
	data := fetchtest.Blob(1000, 23)
	p := &scripted{open: func(n int, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
		if req.URL.Host == "down" {
			return nil, nil, &fetch.TemporaryError{Err: errors.New("down")}
		}
		resp, body := memResponse(req, data, "")
		return resp, body, nil
	}}
	resolver := fetch.ResolverFunc(func(ctx context.Context, req fetch.Request) ([]string, error) {
		name, ok := strings.CutPrefix(req.URL, "mem://repo/")
		switch {
		case !ok:
			return append([]string{req.URL}, req.Mirrors...), nil
		case name == "broken":
			return nil, errors.New("no mirror list")
		case name == "none":
			return nil, nil
		}
		return []string{"mem://down/" + name, "mem://up/" + name}, nil
	})
	f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": p}, Resolver: resolver, Retries: 1})
	ctx := fetchtest.Context(t)

	for i, want := range []int{3, 1} { // the second request goes to the healthy host first
		res, err := f.Fetch(ctx, fetch.Request{URL: "mem://repo/f", Digests: fetchtest.Digests(data)})
		if err != nil {
			t.Fatal(err)
		}
		if res.URL != "mem://up/f" || res.Attempts != want {
			t.Errorf("request %d: got %s after %d attempts; want mem://up/f after %d", i+1, res.URL, res.Attempts, want)
		}
	}
	if _, err := f.Fetch(ctx, fetch.Request{URL: "mem://repo/broken"}); err == nil || !strings.Contains(err.Error(), "no mirror list") {
		t.Errorf("resolver failure: got %v; want the resolver's error", err)
	}
	if _, err := f.Fetch(ctx, fetch.Request{URL: "mem://repo/none"}); !errors.Is(err, fetch.ErrInvalidRequest) {
		t.Errorf("no URL: got %v; want ErrInvalidRequest", err)
	}
}

// TestBearerToken: a token transport in the shared client serves every
// download of a Fetcher: one token for many downloads at once, one refresh
// when it expires, and never to another host.
func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		expireAfter int64
		issued      int64
	}{
		{"token kept", 0, 1},
		{"token expires midway", 37, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTokenServer(tc.expireAfter)
			t.Cleanup(s.Close)
			elsewhere := fetchtest.Start(t, fetchtest.HTTP, func(o *fetchtest.Server, n int, w http.ResponseWriter, r *http.Request) { fetchtest.Status(w, 404, "") })
			client := newBearerClient(s)
			t.Cleanup(client.CloseIdleConnections)
			f := fetchtest.Fetcher(t, fetch.Options{Client: client, Limiter: fetch.NewLimiter(100, 100)})
			ctx := fetchtest.Context(t)
			var wg sync.WaitGroup
			for i := range 100 {
				wg.Go(func() {
					req := fetch.Request{URL: fmt.Sprintf("%s/file/%d", s.URL, i), Writer: new(bytes.Buffer)}
					if i == 0 {
						req.URL, req.Mirrors = elsewhere.URL+"/file/0", []string{req.URL}
					}
					if _, err := f.Fetch(ctx, req); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := s.served.Load(); got != 100 {
				t.Errorf("files served: got %d; want 100", got)
			}
			if got := s.issued.Load(); got != tc.issued {
				t.Errorf("tokens issued: got %d; want %d", got, tc.issued)
			}
			if h := elsewhere.Header(1).Get("Authorization"); h != "" {
				t.Errorf("another host got Authorization %q", h)
			}
		})
	}
}
