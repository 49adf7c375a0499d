package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fetchkit/fetch/internal/fetchtest"
)

// TestFleetBehindNginx runs two Caches behind nginx's consistent hash, as
// README.md shows: each file is fetched from the upstream once across the
// fleet, each Cache keeps its share, and when one Cache stops its share
// moves to the other, with no body served wrong.
func TestFleetBehindNginx(t *testing.T) {
	o := newOrigin(t)
	const n = 20
	for i := range n {
		o.Set(fmt.Sprintf("/f/%02d", i), originFile(fetchtest.Blob(1000+i, 1), nil))
	}
	a, b := newCache(t, o.URL), newCache(t, o.URL)

	ng := fetchtest.StartNginx(t, func(n *fetchtest.Nginx) string {
		return fmt.Sprintf(`	access_log off;
	upstream fleet {
		hash $request_uri consistent;
		server %[1]s max_fails=1 fail_timeout=30s;
		server %[2]s max_fails=1 fail_timeout=30s;
	}
	server {
		listen %[3]s;
		location / {
			proxy_pass http://fleet;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
			proxy_next_upstream error timeout;
		}
	}`, a.front.Listener.Addr(), b.front.Listener.Addr(), n.Addr)
	})
	defer ng.Stop()
	addr, dir := ng.Addr, ng.Dir
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(path string) ([]byte, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return b, err
	}
	var err error
	for range 100 {
		if _, err = get("/f/00"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("nginx does not answer: %v\n%s", err, log)
	}
	fetchAll := func(round string) {
		for i := range n {
			got, err := get(fmt.Sprintf("/f/%02d", i))
			if err != nil || string(got) != string(fetchtest.Blob(1000+i, 1)) {
				t.Errorf("%s: file %02d: got %d bytes, %v; want the file", round, i, len(got), err)
			}
		}
	}
	fetchAll("first")
	fetchAll("second")
	for i := range n {
		if gets, _ := counts(o, fmt.Sprintf("/f/%02d", i)); gets != 1 {
			t.Errorf("file %02d: the upstream got %d requests; want 1 across the fleet", i, gets)
		}
	}
	keptA, _ := fetchtest.CacheFiles(t, a.dir)
	keptB, _ := fetchtest.CacheFiles(t, b.dir)
	if len(keptA) == 0 || len(keptB) == 0 || len(keptA)+len(keptB) != 2*n {
		t.Errorf("the Caches keep %d and %d files and records; want a share each, %d in all", len(keptA), len(keptB), 2*n)
	}

	a.front.Close() // one proxy stops: its share moves to the other
	fetchAll("after one proxy stopped")
	moved := 0
	for i := range n {
		gets, _ := counts(o, fmt.Sprintf("/f/%02d", i))
		moved += gets - 1
	}
	if moved != len(keptA)/2 {
		t.Errorf("after one proxy stopped, the upstream got %d more requests; want %d, its share", moved, len(keptA)/2)
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "error.log")); strings.Contains(string(log), "[emerg]") {
		t.Errorf("nginx reported an emergency:\n%s", log)
	}
}
