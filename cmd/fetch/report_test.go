package main

import (
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	bytes := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}, {1 << 62, "4.0 EiB"},
	}
	for _, tt := range bytes {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q; want %q", tt.n, got, tt.want)
		}
	}
	durations := []struct {
		d    time.Duration
		want string
	}{
		{123456 * time.Nanosecond, "123µs"}, {12345678 * time.Nanosecond, "12ms"},
		{12345678901 * time.Nanosecond, "12.3s"}, {90*time.Second + 400*time.Millisecond, "1m30s"},
	}
	for _, tt := range durations {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
	if got, want := shorten("pool/main/package.deb", 10), "…ckage.deb"; got != want {
		t.Errorf("shorten = %q; want %q", got, want)
	}
	if got, want := progressText(100, 0, 10), "100 B  10 B/s"; got != want {
		t.Errorf("progressText, total unknown = %q; want %q", got, want)
	}
	if got, want := progressText(100, 2048, 10), "100 B / 2.0 KiB  10 B/s"; got != want {
		t.Errorf("progressText = %q; want %q", got, want)
	}
}
