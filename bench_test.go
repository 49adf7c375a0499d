package fetch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fetchkit/fetch"
	"github.com/fetchkit/fetch/internal/fetchtest"
)

// The benchmarks compare the Fetcher with a plain net/http worker pool doing
// the same work in the same run: download, sha256, write to a temp file,
// rename. Run them with
//
//	go test -run '^$' -bench . -benchtime 3x

func BenchmarkSmallFiles(b *testing.B) {
	const n, size, conns = 1000, 4 << 10, 16
	fs := genFiles(n, size)
	s := fetchtest.Start(b, fetchtest.HTTP, fetchtest.Files(fs))
	sums := make(map[string]string, n)
	for p, c := range fs {
		sums[p] = fetchtest.SHA256(c)
	}
	b.Run("fetch", func(b *testing.B) {
		f := fetchtest.Fetcher(b, fetch.Options{Limiter: fetch.NewLimiter(conns, conns)}, s)
		b.SetBytes(n * size)
		for b.Loop() {
			dir := b.TempDir()
			reqs := make(chan fetch.Request)
			go func() {
				defer close(reqs)
				for p, sum := range sums {
					reqs <- fetch.Request{URL: s.URL + p, Path: filepath.Join(dir, p), Digests: map[string]string{"sha256": sum}}
				}
			}()
			for r := range f.FetchAll(context.Background(), reqs) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
	})
	b.Run("nethttp", func(b *testing.B) {
		client := plainClient(conns)
		defer client.CloseIdleConnections()
		b.SetBytes(n * size)
		for b.Loop() {
			dir := b.TempDir()
			jobs := make(chan [2]string)
			var wg sync.WaitGroup
			for range conns {
				wg.Go(func() {
					for j := range jobs {
						if err := plainGet(client, s.URL+j[0], filepath.Join(dir, j[0]), j[1]); err != nil {
							b.Error(err)
						}
					}
				})
			}
			for p, sum := range sums {
				jobs <- [2]string{p, sum}
			}
			close(jobs)
			wg.Wait()
		}
	})
}

func BenchmarkLargeFile(b *testing.B) {
	const size = 256 << 20
	content := bytes.Repeat(genFiles(1, 1<<20)["/f/00000"], size>>20)
	sum := fetchtest.SHA256(content)
	s := fetchtest.Start(b, fetchtest.HTTP, fetchtest.Files(files{"/big": content}))
	b.Run("fetch", func(b *testing.B) {
		f := fetchtest.Fetcher(b, fetch.Options{}, s)
		b.SetBytes(size)
		for b.Loop() {
			dir := b.TempDir()
			_, err := f.Fetch(context.Background(), fetch.Request{URL: s.URL + "/big", Path: filepath.Join(dir, "big"), Digests: map[string]string{"sha256": sum}})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nethttp", func(b *testing.B) {
		client := plainClient(1)
		defer client.CloseIdleConnections()
		b.SetBytes(size)
		for b.Loop() {
			dir := b.TempDir()
			if err := plainGet(client, s.URL+"/big", filepath.Join(dir, "big"), sum); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFetchAllMemory streams 10,000 and 1,000,000 requests of one byte
// through FetchAll and reports the peak heap: it must not grow with the
// number of requests.
func BenchmarkFetchAllMemory(b *testing.B) {
	s := fetchtest.Start(b, fetchtest.HTTP, func(_ *fetchtest.Server, _ int, w http.ResponseWriter, r *http.Request) { w.Write([]byte{'x'}) })
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f := fetchtest.Fetcher(b, fetch.Options{Limiter: fetch.NewLimiter(16, 16)}, s)
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					reqs := make(chan fetch.Request)
					go func() {
						defer close(reqs)
						for range n {
							reqs <- fetch.Request{URL: s.URL, Writer: io.Discard}
						}
					}()
					for r := range f.FetchAll(context.Background(), reqs) {
						if r.Err != nil {
							b.Fatal(r.Err)
						}
					}
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// peakHeap runs fn and returns the most heap in use while it ran, sampled
// every millisecond.
func peakHeap(fn func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	return peak.Load()
}

// plainClient is the net/http client a careful program would write.
func plainClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost, t.MaxIdleConnsPerHost = conns, conns
	t.DisableCompression = true
	return &http.Client{Transport: t}
}

// plainGet downloads url to path through a temp file, checking its sha256.
func plainGet(client *http.Client, url, path, sum string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
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
	if _, err := io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%s: sha256 %s, want %s", url, got, sum)
	}
	return os.Rename(tmp.Name(), path)
}
