package lines

import (
	"slices"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	var got []string
	err := Scan(strings.NewReader("\ufeffone\r\ntwo\n\nfour"), 64, func(n int, line string) bool {
		got = append(got, line)
		return true
	})
	if want := []string{"one", "two", "", "four"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}

	got = nil
	Scan(strings.NewReader("a\nb\nc\n"), 64, func(n int, line string) bool {
		got = append(got, line)
		return n < 2
	})
	if want := []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("stopped: got %q; want %q", got, want)
	}

	err = Scan(strings.NewReader("short\n"+strings.Repeat("x", 100)+"\n"), 64, func(int, string) bool { return true })
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("long line: got %v; want an error naming line 2", err)
	}
}
