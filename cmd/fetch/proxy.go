package main

import (
	"context"
	"fmt"
	"io"
)

// runProxy stands for the proxy subcommand until it is built.
func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "fetch: proxy: not built")
	return exitUsage
}
