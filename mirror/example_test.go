package mirror_test

import (
	"fmt"

	"github.com/fetchkit/fetch/mirror"
)

// A Static resolver tries each mirror at the path below its base.
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
