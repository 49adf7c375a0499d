// Command nethttp is the benchmark's plain net/http peer: the worker pool a
// careful Go programmer would write without the fetch package. It reads the
// same list as "fetch -i" (lines "URL out=PATH sha256=HEX size=N") and does
// the same work for each file: download to a temporary file beside PATH
// while hashing, check size and sha256, rename.
//
//	nethttp -i LIST -o DIR -j 16
//
// With -naive it uses http.DefaultTransport as it is (two idle connections
// kept per host), as a program that does not tune its client would.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

type entry struct {
	url, out, sha256 string
	size             int64
}

func main() {
	list := flag.String("i", "", "list of files, as for fetch -i")
	dir := flag.String("o", ".", "directory to download into")
	jobs := flag.Int("j", 16, "transfers at once")
	naive := flag.Bool("naive", false, "use http.DefaultTransport untuned")
	flag.Parse()
	log.SetFlags(0)

	entries, err := readList(*list)
	if err != nil {
		log.Fatal(err)
	}
	client := http.DefaultClient
	if !*naive {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxConnsPerHost, t.MaxIdleConnsPerHost = *jobs, *jobs
		t.DisableCompression = true
		client = &http.Client{Transport: t}
	}
	work := make(chan entry)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range *jobs {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for e := range work {
				if err := get(client, e, filepath.Join(*dir, e.out), buf); err != nil {
					log.Print(err)
					failed.Add(1)
				}
			}
		})
	}
	for _, e := range entries {
		work <- e
	}
	close(work)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		log.Fatalf("%d of %d failed", n, len(entries))
	}
}

func readList(name string) ([]entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var entries []entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		e := entry{url: fields[0], out: filepath.Base(fields[0]), size: -1}
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "out":
				e.out = v
			case "sha256":
				e.sha256 = v
			case "size":
				if e.size, err = strconv.ParseInt(v, 10, 64); err != nil {
					return nil, fmt.Errorf("%s: %v", kv, err)
				}
			}
		}
		entries = append(entries, e)
	}
	return entries, sc.Err()
}

// get downloads e to path through a temporary file, checking its size and
// sha256.
func get(client *http.Client, e entry, path string, buf []byte) error {
	resp, err := client.Get(e.url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", e.url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), resp.Body, buf)
	if err = errors.Join(err, tmp.Close()); err != nil {
		return fmt.Errorf("%s: %v", e.url, err)
	}
	if e.size >= 0 && n != e.size {
		return fmt.Errorf("%s: %d bytes, want %d", e.url, n, e.size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); e.sha256 != "" && got != e.sha256 {
		return fmt.Errorf("%s: sha256 %s, want %s", e.url, got, e.sha256)
	}
	return os.Rename(tmp.Name(), path)
}
