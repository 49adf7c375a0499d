package fetch

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// TestBackoffBounds: every wait lies between zero and the smaller of
// BackoffBase·2ⁿ⁻¹ and MaxBackoff, whatever the number of retries.
func TestBackoffBounds(t *testing.T) {
	for _, tc := range []struct{ base, max time.Duration }{
		{time.Millisecond, 30 * time.Second},
		{500 * time.Millisecond, 30 * time.Second},
		{10 * time.Second, time.Hour},
		{time.Hour, 24 * time.Hour},
		{time.Duration(1) << 62, math.MaxInt64},
	} {
		t.Run(fmt.Sprint(tc.base, "/", tc.max), func(t *testing.T) {
			f := New(Options{BackoffBase: tc.base, MaxBackoff: tc.max})
			defer f.Close()
			for n := 1; n <= 100; n++ {
				ceiling := tc.max
				if n <= 63 && float64(tc.base)*float64(uint64(1)<<(n-1)) < float64(tc.max) {
					ceiling = tc.base << (n - 1)
				}
				for range 20 {
					if w := f.backoff(n); w < 0 || w > ceiling {
						t.Fatalf("retry %d: got a wait of %v; want 0 to %v", n, w, ceiling)
					}
				}
				// Past the point where the cap is reached, the waits are
				// drawn up to MaxBackoff, not collapsed to zero.
				if ceiling == tc.max && tc.max > time.Second {
					longest := time.Duration(0)
					for range 50 {
						longest = max(longest, f.backoff(n))
					}
					if longest < tc.max/100 {
						t.Fatalf("retry %d: longest of 50 waits is %v; want them spread up to %v", n, longest, tc.max)
					}
				}
			}
		})
	}
}
