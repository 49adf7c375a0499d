// Package proxy serves files to HTTP clients while a [fetch.Fetcher]
// downloads them: [Streamer] bridges one download to every client that asks
// for the same file, and [Cache] is a pull-through cache of the files below
// an upstream base URL, an [net/http.Handler] built on a Streamer.
//
// Both build on package fetch through its exported API only, as
// net/http/httputil builds on net/http.
package proxy
