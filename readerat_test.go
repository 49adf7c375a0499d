package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestOpenReaderAt checks that OpenReaderAt keeps the Protocol contract.
func TestOpenReaderAt(t *testing.T) {
	const data = "0123456789"
	mod := fetchtest.ModTime
	lastModified := mod.Format(http.TimeFormat)
	u, _ := url.Parse("mem://repo/f")
	for _, tc := range []struct {
		name      string
		req       fetch.OpenRequest
		mod       time.Time
		status    int
		offset    int64
		body      string
		validator string
	}{
		{name: "whole", req: fetch.OpenRequest{}, mod: mod, status: 200, body: data, validator: lastModified},
		{name: "resume", req: fetch.OpenRequest{Offset: 4, Validator: lastModified}, mod: mod, status: 206, offset: 4, body: data[4:], validator: lastModified},
		{name: "resume unguarded", req: fetch.OpenRequest{Offset: 4}, mod: mod, status: 206, offset: 4, body: data[4:], validator: lastModified},
		{name: "changed", req: fetch.OpenRequest{Offset: 4, Validator: "Thu, 01 Jan 2026 00:00:00 GMT"}, mod: mod, status: 200, body: data, validator: lastModified},
		{name: "past the end", req: fetch.OpenRequest{Offset: 11}, mod: mod, status: 200, body: data, validator: lastModified},
		{name: "span", req: fetch.OpenRequest{Offset: 2, Length: 3}, mod: mod, status: 206, offset: 2, body: "234", validator: lastModified},
		{name: "no time", req: fetch.OpenRequest{}, status: 200, body: data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.URL = u
			resp, body, err := fetch.OpenReaderAt(context.Background(), &req, strings.NewReader(data), int64(len(data)), tc.mod)
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.URL != "mem://repo/f" || resp.Status != tc.status || resp.Offset != tc.offset || resp.Size != 10 || string(b) != tc.body {
				t.Errorf("got %s %d, Offset %d, Size %d, body %q; want mem://repo/f %d, Offset %d, Size 10, body %q",
					resp.URL, resp.Status, resp.Offset, resp.Size, b, tc.status, tc.offset, tc.body)
			}
			if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(tc.body)) {
				t.Errorf("Content-Length %s; want %d, the length of the body", cl, len(tc.body))
			}
			if v := resp.Header.Get("Last-Modified"); v != tc.validator {
				t.Errorf("Last-Modified %q; want %q", v, tc.validator)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, body, _ := fetch.OpenReaderAt(ctx, &fetch.OpenRequest{URL: u}, strings.NewReader(data), 10, mod)
	cancel()
	if _, err := body.Read(make([]byte, 4)); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v; want context.Canceled", err)
	}
}

// readerOnly hides every method of an fs.File but Read, Stat and Close.
type readerOnly struct{ fs.File }

type readerOnlyFS struct{ fs.FS }

func (f readerOnlyFS) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return readerOnly{file}, nil
}

// TestFSProtocol downloads from an fs.FS through the Fetcher, resuming a
// transfer cut short, with files that can be read at an offset and files
// that cannot.
func TestFSProtocol(t *testing.T) {
	content := genFiles(1, 200<<10)["/f/00000"]
	mapFS := fstest.MapFS{
		"repo/a.bin": {Data: content, ModTime: fetchtest.ModTime},
		"repo/dir":   {Mode: fs.ModeDir},
	}
	for name, fsys := range map[string]fs.FS{"ReaderAt": mapFS, "Reader": readerOnlyFS{mapFS}} {
		t.Run(name, func(t *testing.T) {
			cut := &cutOnce{p: fetch.FSProtocol(fsys), after: 100 << 10}
			f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"mem": cut}})
			var out strings.Builder
			res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "mem://repo/a.bin", Writer: &out})
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(content) || res.Attempts != 2 || cut.offsets[1] != 100<<10 {
				t.Errorf("got %d bytes in %d attempts, the second from %v; want the %d bytes in 2, resumed at %d",
					out.Len(), res.Attempts, cut.offsets, len(content), 100<<10)
			}
			for url, want := range map[string]error{
				"mem://repo/missing": fetch.ErrNotFound,
				"mem://repo/dir":     fetch.ErrInvalidRequest,
				"mem:///":            fetch.ErrInvalidRequest,
			} {
				if _, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: url}); !errors.Is(err, want) {
					t.Errorf("%s: got %v; want %v", url, err, want)
				}
			}
		})
	}
}

// cutOnce is a Protocol whose first body ends with an error after a number
// of bytes; it records the offset of each Open.
type cutOnce struct {
	p       fetch.Protocol
	after   int64
	offsets []int64
}

func (c *cutOnce) Open(ctx context.Context, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
	c.offsets = append(c.offsets, req.Offset)
	resp, body, err := c.p.Open(ctx, req)
	if err != nil || len(c.offsets) > 1 {
		return resp, body, err
	}
	return resp, struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(body, c.after), errReader{io.ErrUnexpectedEOF}), body}, nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestResponseDefaults checks that the Fetcher fills in the URL of a
// Response that a Protocol left empty.
func TestResponseDefaults(t *testing.T) {
	bare := protocolFunc(func(ctx context.Context, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
		return &fetch.Response{Size: -1}, io.NopCloser(strings.NewReader("bytes")), nil
	})
	f := fetchtest.Fetcher(t, fetch.Options{Protocols: map[string]fetch.Protocol{"bare": bare}})
	var seen fetch.Response
	res, err := f.Fetch(fetchtest.Context(t), fetch.Request{URL: "bare://x/y", OnResponse: func(r fetch.Response) error { seen = r; return nil }})
	if err != nil || res.URL != "bare://x/y" || seen.URL != "bare://x/y" || seen.Header == nil {
		t.Errorf("got %v, Result.URL %q, Response %+v; want the request's URL and a Header", err, res.URL, seen)
	}
}

type protocolFunc func(ctx context.Context, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error)

func (p protocolFunc) Open(ctx context.Context, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
	return p(ctx, req)
}
