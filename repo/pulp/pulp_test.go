package pulp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fetchkit/fetch/internal/hexdigest"
	"github.com/fetchkit/fetch/internal/relpath"
	"go.uber.org/goleak"
)

const sha256A = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want Entry
		ok   bool
		err  string
	}{
		{line: ""},
		{line: "  "},
		{line: "# comment"},
		{line: "a.iso," + sha256A + ",12", ok: true, want: Entry{Path: "a.iso", SHA256: sha256A, Size: 12}},
		{line: " d/e f.iso , " + strings.ToUpper(sha256A) + " , 0 ", ok: true, want: Entry{Path: "d/e f.iso", SHA256: sha256A, Size: 0}},
		{line: "a.iso," + sha256A, err: "2 fields; want 3"},
		{line: "a,b.iso," + sha256A + ",12", err: "4 fields; want 3"},
		{line: "a.iso,xyz,12", err: `sha256 "xyz"`},
		{line: "a.iso," + sha256A + ",-1", err: `size "-1"`},
		{line: "a.iso," + sha256A + ",", err: `size ""`},
		{line: "../x," + sha256A + ",1", err: "escapes"},
		{line: "a/../../x," + sha256A + ",1", err: "escapes"},
		{line: "/etc/passwd," + sha256A + ",1", err: "escapes"},
		{line: `..\x,` + sha256A + ",1", err: "escapes"},
		{line: "," + sha256A + ",1", err: "escapes"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok, err := ParseLine(tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseLine(%q) error = %v; want one containing %q", tt.line, err, tt.err)
				}
				return
			}
			if err != nil || ok != tt.ok || got != tt.want {
				t.Fatalf("ParseLine(%q) = %+v, %v, %v; want %+v, %v, nil", tt.line, got, ok, err, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParseManifest checks that any line either fails or gives an entry
// whose path stays in its folder, and that an entry written back reads the
// same.
func FuzzParseManifest(f *testing.F) {
	f.Add("a/b.iso," + sha256A + ",12")
	f.Add("../b.iso," + sha256A + ",12")
	f.Add("# comment")
	f.Fuzz(func(t *testing.T, line string) {
		e, ok, err := ParseLine(line)
		if err != nil || !ok {
			return
		}
		if err := relpath.Check(e.Path); err != nil {
			t.Fatalf("path %q: %v", e.Path, err)
		}
		if !hexdigest.Valid(e.SHA256, 64) || e.SHA256 != strings.ToLower(e.SHA256) || e.Size < 0 {
			t.Fatalf("entry %+v", e)
		}
		again, ok, err := ParseLine(fmt.Sprintf("%s,%s,%d", e.Path, e.SHA256, e.Size))
		if err != nil || !ok || again != e {
			t.Fatalf("written back: %+v, %v, %v; want %+v", again, ok, err, e)
		}
	})
}
