// Command fetchall measures fetch.FetchAll over many small requests: it
// sends n requests to FetchAll as fast as FetchAll takes them, with a Writer
// sink (no disk), and prints one line of results: the requests, the
// failures, the seconds taken and the process's peak resident memory (VmHWM
// from /proc/self/status).
//
//	fetchall -url 'http://127.0.0.1:8080/tiny/%05d' -files 50 -n 1000000 -j 16
//
// The URL's %d verb, if any, takes the request number modulo -files.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fetchkit/fetch"
)

// counter is the requests' Writer: it counts the bytes it gets.
type counter struct{ n atomic.Int64 }

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

func main() {
	url := flag.String("url", "", "URL to fetch; a %d verb takes the request number modulo -files")
	files := flag.Int("files", 1, "distinct URLs, with a %d verb in -url")
	n := flag.Int("n", 10000, "requests")
	jobs := flag.Int("j", 16, "transfers at once (NewLimiter(j, j))")
	flag.Parse()
	log.SetFlags(0)

	f := fetch.New(fetch.Options{Limiter: fetch.NewLimiter(*jobs, *jobs)})
	defer f.Close()
	var sink counter
	reqs := make(chan fetch.Request)
	go func() {
		defer close(reqs)
		for i := range *n {
			u := *url
			if strings.Contains(u, "%") {
				u = fmt.Sprintf(u, i%*files)
			}
			reqs <- fetch.Request{URL: u, Writer: &sink}
		}
	}()
	start := time.Now()
	results, failed := 0, 0
	for r := range f.FetchAll(context.Background(), reqs) {
		results++
		if r.Err != nil {
			if failed == 0 {
				log.Print(r.Err)
			}
			failed++
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("requests=%d failed=%d bytes=%d seconds=%.3f peak_rss_kib=%d\n",
		results, failed, sink.n.Load(), elapsed.Seconds(), peakRSS())
	if failed > 0 || results != *n {
		os.Exit(1)
	}
}

// peakRSS returns the process's peak resident set size in KiB.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kib)
			return kib
		}
	}
	return -1
}
