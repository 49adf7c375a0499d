package fetch

// MinProgress is minProgress, for the tests of the retry rule.
const MinProgress = minProgress

// DefaultUserAgent is defaultUserAgent, for the tests of the User-Agent.
var DefaultUserAgent = defaultUserAgent
