package hexdigest

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestLower(t *testing.T) {
	tests := []struct {
		s, want string
		n       int
		ok      bool
	}{
		{"0a1f", "0a1f", 4, true},
		{"0A1F", "0a1f", 4, true},
		{"0a1", "", 4, false},
		{"0a1f0", "", 4, false},
		{"0a1g", "", 4, false},
		{"0a 1", "", 4, false},
		{"", "", 0, true},
	}
	for _, tt := range tests {
		got, ok := Lower(tt.s, tt.n)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Lower(%q, %d) = %q, %v; want %q, %v", tt.s, tt.n, got, ok, tt.want, tt.ok)
		}
		if Valid(tt.s, tt.n) != tt.ok {
			t.Errorf("Valid(%q, %d) = %v; want %v", tt.s, tt.n, !tt.ok, tt.ok)
		}
	}
}
