package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/fetchkit/fetch"
)

// memProtocol serves mem://host/path URLs from a map. The first Open of
// each URL fails with a TemporaryError, as a busy backend would: the
// Fetcher retries it, the Protocol does not have to.
type memProtocol struct {
	files    map[string]string // contents by URL
	modified time.Time         // of every file

	mu    sync.Mutex
	opens map[string]int
}

func (p *memProtocol) Open(ctx context.Context, req *fetch.OpenRequest) (*fetch.Response, io.ReadCloser, error) {
	u := req.URL.Redacted()
	p.mu.Lock()
	p.opens[u]++
	first := p.opens[u] == 1
	p.mu.Unlock()

	data, ok := p.files[u]
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("%s: %w", u, fetch.ErrNotFound) // not retried
	case first:
		return nil, nil, &fetch.TemporaryError{Err: fmt.Errorf("%s: busy", u)}
	}
	// The bytes are at hand: OpenReaderAt answers as a Protocol must,
	// resuming at req.Offset unless the file changed since.
	return fetch.OpenReaderAt(ctx, req, strings.NewReader(data), int64(len(data)), p.modified)
}

// A Protocol adds a URL scheme. The Fetcher keeps the limits, retries,
// mirrors, validation and sinks: here the first attempt fails and is
// retried, and the digest is checked, without the Protocol knowing of it.
func ExampleProtocol() {
	mem := &memProtocol{
		files: map[string]string{"mem://repo/hello.txt": "hello, world\n"},
		opens: map[string]int{},
	}
	f := fetch.New(fetch.Options{
		Protocols:   map[string]fetch.Protocol{"mem": mem},
		BackoffBase: 1, // retry at once
	})
	defer f.Close()

	var out strings.Builder
	res, err := f.Fetch(context.Background(), fetch.Request{
		URL:    "mem://repo/hello.txt",
		Writer: &out,
		Digests: map[string]string{
			"sha256": "853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020",
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q after %d attempts\n", out.String(), res.Attempts)

	_, err = f.Fetch(context.Background(), fetch.Request{URL: "mem://repo/missing.txt"})
	fmt.Println(errors.Is(err, fetch.ErrNotFound))
	// Output:
	// "hello, world\n" after 2 attempts
	// true
}

// A Resolver gives the URLs to try for a request: here every file of
// mem://repo is also on two mirrors. Code that only calls Fetch with a URL,
// such as a streamer, gets the mirrors without knowing of them.
//
// The Fetcher orders what a Resolver returns by what failed lately
// (Options.MirrorCooldown): a host that failed as a host (no connection, a
// 5xx) goes last for every request; a file that one mirror lacks, or
// serves with the wrong digest, goes elsewhere for that file only. Here
// mirror1 lacks a.deb: a.deb comes from mirror2, and b.deb still from
// mirror1, first in the list.
func ExampleResolver() {
	mem := &memProtocol{
		files: map[string]string{
			"mem://mirror1/pool/b.deb": "package b\n",
			"mem://mirror2/pool/a.deb": "package a\n",
			"mem://mirror2/pool/b.deb": "package b\n",
		},
		opens: map[string]int{ // none of them busy
			"mem://mirror1/pool/b.deb": 1,
			"mem://mirror2/pool/a.deb": 1,
			"mem://mirror2/pool/b.deb": 1,
		},
	}
	mirrors := fetch.ResolverFunc(func(ctx context.Context, req fetch.Request) ([]string, error) {
		path, ok := strings.CutPrefix(req.URL, "mem://repo/")
		if !ok {
			return append([]string{req.URL}, req.Mirrors...), nil
		}
		return []string{"mem://mirror1/" + path, "mem://mirror2/" + path, req.URL}, nil
	})
	f := fetch.New(fetch.Options{
		Protocols: map[string]fetch.Protocol{"mem": mem},
		Resolver:  mirrors,
	})
	defer f.Close()

	// The streamer's side: one URL, no mirrors.
	for _, name := range []string{"a.deb", "b.deb"} {
		var out strings.Builder
		res, err := f.Fetch(context.Background(), fetch.Request{URL: "mem://repo/pool/" + name, Writer: &out})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%q from %s\n", out.String(), res.URL)
	}
	// Output:
	// "package a\n" from mem://mirror2/pool/a.deb
	// "package b\n" from mem://mirror1/pool/b.deb
}

// FSProtocol serves the files of an fs.FS (os.DirFS, embed.FS,
// fstest.MapFS, a zip.Reader) under a scheme of your own. The URL's host
// and path name the file.
func ExampleFSProtocol() {
	repo := fstest.MapFS{
		"pool/a.deb": {Data: []byte("package a\n"), ModTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	f := fetch.New(fetch.Options{Protocols: map[string]fetch.Protocol{"repo": fetch.FSProtocol(repo)}})
	defer f.Close()

	var out strings.Builder
	res, err := f.Fetch(context.Background(), fetch.Request{
		URL:    "repo:///pool/a.deb",
		Writer: &out,
		OnResponse: func(resp fetch.Response) error {
			fmt.Println(resp.Status, resp.Size, resp.Header.Get("Last-Modified"))
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q from %s\n", out.String(), res.URL)

	_, err = f.Fetch(context.Background(), fetch.Request{URL: "repo:///pool/b.deb"})
	fmt.Println(errors.Is(err, fetch.ErrNotFound))
	// Output:
	// 200 10 Fri, 02 Jan 2026 03:04:05 GMT
	// "package a\n" from repo:///pool/a.deb
	// true
}
