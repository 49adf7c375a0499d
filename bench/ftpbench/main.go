// Command ftpbench measures fetch over FTP: it downloads the files of a
// manifest ("relpath sha256 size" a line, as bench/gen prints it) from an FTP
// base URL into a directory through FetchAll, each checked against its size
// and sha256, and prints one line of results: the files, the failures and
// the seconds taken.
//
//	ftpbench -base ftp://127.0.0.1:2121 -manifest ftp.manifest -o OUT -j 8
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/fetchkit/fetch"
)

func main() {
	base := flag.String("base", "", "FTP base URL; each manifest path is appended to it")
	manifest := flag.String("manifest", "", `file of "relpath sha256 size" lines`)
	out := flag.String("o", ".", "directory to write into")
	jobs := flag.Int("j", 8, "transfers and connections at once (NewLimiter(j, j))")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	log.SetFlags(0)

	reqs, err := readManifest(*manifest, strings.TrimSuffix(*base, "/"), *out)
	if err != nil {
		log.Fatal(err)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	limiter := fetch.NewLimiter(*jobs, *jobs)
	pool := fetch.NewFTPPool(fetch.FTPPoolOptions{MaxIdlePerHost: *jobs})
	f := fetch.New(fetch.Options{Limiter: limiter, FTP: pool})
	defer f.Close()
	ch := make(chan fetch.Request)
	go func() {
		defer close(ch)
		for _, r := range reqs {
			ch <- r
		}
	}()
	start := time.Now()
	results, failed := 0, 0
	for r := range f.FetchAll(context.Background(), ch) {
		results++
		if r.Err != nil {
			if failed == 0 {
				log.Print(r.Err)
			}
			failed++
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("files=%d failed=%d seconds=%.3f\n", results, failed, elapsed.Seconds())
	if failed > 0 || results != len(reqs) {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// readManifest returns a request for each line of the manifest.
func readManifest(name, base, out string) ([]fetch.Request, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var reqs []fetch.Request
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s: malformed line %q", name, sc.Text())
		}
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		reqs = append(reqs, fetch.Request{
			URL:     base + "/" + fields[0],
			Path:    filepath.Join(out, filepath.FromSlash(fields[0])),
			Size:    size,
			Digests: map[string]string{"sha256": fields[1]},
		})
	}
	return reqs, sc.Err()
}
