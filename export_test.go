package fetch

// MinProgress is minProgress, for the tests of the retry rule.
const MinProgress = minProgress

// DefaultUserAgent is defaultUserAgent, for the tests of the User-Agent.
var DefaultUserAgent = defaultUserAgent

// OnRead sets the function that f calls with a file's path before it
// reads a file in place (Request.CheckExisting).
func OnRead(f *Fetcher, read func(path string)) { f.onRead = read }
