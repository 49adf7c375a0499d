package fetchtest

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Do sends a request with method and header to url through c, and
// returns the response, whose body is closed at the end of the test.
func Do(t testing.TB, c *http.Client, method, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// DeadURL returns a URL on a loopback port that closes every connection
// it accepts before a byte is read: a host whose connections fail.
func DeadURL(t testing.TB) string {
	// The listener stays open for the test, so that no other server of a
	// parallel test can take its port; every connection is closed at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return "http://" + l.Addr().String()
}

// CacheFiles returns the files below dir, the directory of a proxy's
// cache: the kept ones, and the temporary ones (their names start with a
// dot). The cache's .lock is neither.
func CacheFiles(t testing.TB, dir string) (kept, temporary []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir() || d.Name() == ".lock":
		case strings.HasPrefix(d.Name(), "."):
			temporary = append(temporary, path)
		default:
			kept = append(kept, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return kept, temporary
}

// Buffer is a buffer safe for concurrent use, such as the log of a server
// under test, that a test can wait on.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed at the next Write
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines written so far.
func (b *Buffer) Lines() []string {
	s := strings.TrimSpace(b.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// WaitFor waits until the buffer holds s, for up to a minute, and reports
// whether it does: a server may write its log line after its client read
// the whole response.
func (b *Buffer) WaitFor(s string) bool {
	deadline := time.After(time.Minute)
	for {
		b.mu.Lock()
		found := strings.Contains(b.buf.String(), s)
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		changed := b.changed
		b.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}
