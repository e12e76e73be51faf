package delivery

// DefaultClient exposes the shared default HTTP client to the external
// tests, which close its idle connections before checking for leaked
// goroutines.
var DefaultClient = defaultClient
