package mirror_test

import (
	"fmt"

	"github.com/fetchkit/fetch/mirror"
)

// A Static resolver tries each mirror at the path below its base. A
// Fetcher with it as its Resolver tries these URLs in this order, but for
// those that failed lately: every URL of a mirror that failed as a host
// (no connection, a 5xx) and one at which this file was missing or wrong
// go last (see fetch.Options.MirrorCooldown).
func ExampleStatic() {
	s := mirror.Static{
		Base:    "https://repo.example/os/",
		Mirrors: []string{"https://mirror.example/pub/os/", "ftp://ftp.example/os"},
	}
	for _, u := range s.URLs("https://repo.example/os/Packages/a.rpm") {
		fmt.Println(u)
	}
	// Output:
	// https://mirror.example/pub/os/Packages/a.rpm
	// ftp://ftp.example/os/Packages/a.rpm
}
