package fetch_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fetchkit/fetch"
	"golang.org/x/sync/singleflight"
)

// bearerTransport adds a bearer token to the requests for one host. It
// gets the token once, however many requests wait for it, and gets a new
// one once when the server refuses it (401), however many requests were
// refused: every request shares one token.
//
// It resends only requests without a body, which is all that a Fetcher
// sends.
type bearerTransport struct {
	base     http.RoundTripper
	host     string                                    // the token is for this host only
	getToken func(ctx context.Context) (string, error) // asks the token server

	mu     sync.Mutex
	token  string
	tokens singleflight.Group // one getToken at a time, keyed by the token it replaces
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return t.base.RoundTrip(req) // no token to a mirror or a redirect elsewhere
	}
	token, err := t.current(req.Context(), "")
	if err != nil {
		return nil, err
	}
	resp, err := t.send(req, token)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	// The token expired: replace it (once for every request that saw it
	// refused) and send the request again.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if token, err = t.current(req.Context(), token); err != nil {
		return nil, err
	}
	return t.send(req, token)
}

// CloseIdleConnections closes the idle connections of the base transport,
// so that http.Client.CloseIdleConnections reaches them.
func (t *bearerTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *bearerTransport) send(req *http.Request, token string) (*http.Response, error) {
	req = req.Clone(req.Context()) // a RoundTripper must not change its request
	req.Header.Set("Authorization", "Bearer "+token)
	return t.base.RoundTrip(req)
}

// current returns the token, getting a new one if there is none yet or if
// the one there is refused (stale).
func (t *bearerTransport) current(ctx context.Context, refused string) (string, error) {
	t.mu.Lock()
	token := t.token
	t.mu.Unlock()
	if token != "" && token != refused {
		return token, nil
	}
	ch := t.tokens.DoChan(refused, func() (any, error) {
		t.mu.Lock()
		token := t.token
		t.mu.Unlock()
		if token != "" && token != refused {
			return token, nil // replaced while this request was refused
		}
		token, err := t.getToken(ctx)
		if err != nil {
			return "", err
		}
		t.mu.Lock()
		t.token = token
		t.mu.Unlock()
		return token, nil
	})
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	}
}

// tokenServer issues tokens and serves files to holders of the last one;
// after expireAfter files (if not 0) it refuses that token.
type tokenServer struct {
	*httptest.Server
	expireAfter int64

	issued atomic.Int64 // tokens issued
	served atomic.Int64 // files served
	mu     sync.Mutex
	valid  string
}

func newTokenServer(expireAfter int64) *tokenServer {
	s := &tokenServer{expireAfter: expireAfter}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.URL.Path == "/token" {
			s.valid = fmt.Sprintf("token-%d", s.issued.Add(1))
			fmt.Fprint(w, s.valid)
			return
		}
		if s.valid == "" || r.Header.Get("Authorization") != "Bearer "+s.valid {
			http.Error(w, "token expired", http.StatusUnauthorized)
			return
		}
		if s.served.Add(1) == s.expireAfter {
			s.valid = "" // expired
		}
		fmt.Fprintf(w, "contents of %s\n", r.URL.Path)
	}))
	return s
}

// newBearerClient returns a client that authenticates to s with tokens
// from s.
func newBearerClient(s *tokenServer) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 100
	getToken := func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/token", nil)
		if err != nil {
			return "", err
		}
		resp, err := (&http.Client{Transport: base}).Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("token: %s", resp.Status)
		}
		return strings.TrimSpace(string(b)), err
	}
	return &http.Client{Transport: &bearerTransport{base: base, host: s.Listener.Addr().String(), getToken: getToken}}
}

// A client whose transport adds a bearer token serves every download of a
// Fetcher, which knows nothing of tokens: 100 downloads at once get the
// token once; when it expires midway, it is replaced once.
func Example_bearerToken() {
	s := newTokenServer(50) // the first token expires after 50 files
	defer s.Close()
	client := newBearerClient(s)
	defer client.CloseIdleConnections()

	f := fetch.New(fetch.Options{Client: client, Limiter: fetch.NewLimiter(100, 100)})
	defer f.Close()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 100 {
		wg.Go(func() {
			var out strings.Builder
			_, err := f.Fetch(context.Background(), fetch.Request{URL: fmt.Sprintf("%s/file/%d", s.URL, i), Writer: &out})
			if err != nil || out.String() != fmt.Sprintf("contents of /file/%d\n", i) {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Println("downloads:", s.served.Load(), "failed:", failed.Load())
	fmt.Println("tokens issued:", s.issued.Load())
	// Output:
	// downloads: 100 failed: 0
	// tokens issued: 2
}
