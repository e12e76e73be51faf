package delivery

import (
	"errors"
	"fmt"
	"math"
	"net/textproto"
	"net/url"
	"strings"
)

// Event is what the host delivers: one occurrence in its domain, such as
// "invoice.paid". The same Event may be delivered to many endpoints.
type Event struct {
	// ID identifies the event. It is sent as the webhook-id header,
	// unchanged across every attempt, so receivers can drop duplicates.
	// Required; at most MaxIDLength bytes of printable ASCII.
	ID string
	// Type names the kind of event, such as "invoice.paid". Optional; at
	// most MaxIDLength bytes. It is recorded on each attempt.
	Type string
	// Payload is the request body, sent byte for byte, usually JSON. At
	// most Config.MaxPayloadSize bytes. The Store keeps it once per event
	// ID, as the event's first attempt stored it, and the worker sends
	// that with every attempt of the event (see the package docs).
	Payload []byte
}

// Endpoint is where an event goes: a URL that belongs to one of the host's
// customers, with the secrets that sign requests to it.
type Endpoint struct {
	// ID identifies the endpoint. Required; at most MaxIDLength bytes of
	// printable ASCII.
	ID string
	// URL is an absolute http or https URL of at most MaxURLLength bytes,
	// without user credentials (send those in Headers).
	URL string
	// Secrets are the signing secrets in the Standard Webhooks form,
	// "whsec_" followed by the base64 of 24 to 64 random bytes (see
	// NewSecret). Each one adds a signature, so a receiver can rotate
	// secrets without a gap. With no secrets the request is not signed.
	// Secrets are never stored, logged or put in an error.
	Secrets []string
	// Headers are extra request headers, such as an Authorization token.
	// They cannot replace the headers this library sets: Host,
	// Content-Type, Content-Length, Transfer-Encoding, Connection,
	// User-Agent, and the webhook-* headers.
	Headers map[string]string
	// RateLimit, when positive, is how many requests per second the
	// worker sends to the endpoint, with bursts of up to Burst (at least
	// 1). The limit holds per process: N processes send up to N times
	// as many. A request that would wait longer than half the margin
	// between Config.Lease and Config.Timeout is not held in a worker:
	// the endpoint is paused until it may go (see HealthStore), and its
	// attempt is claimed again then. Deliver and Resend are not limited.
	RateLimit float64
	Burst     int
}

// Input limits.
const (
	// MaxIDLength is the longest event ID, event type or endpoint ID, in bytes.
	MaxIDLength = 255
	// MaxURLLength is the longest endpoint URL, in bytes.
	MaxURLLength = 2048
)

// ErrInvalidInput is wrapped by every error that rejects a caller's input:
// an empty ID, a malformed URL or header, an oversized payload, a malformed
// secret. Nothing is stored or sent when it is returned.
var ErrInvalidInput = errors.New("delivery: invalid input")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}

// reservedHeaders are the request headers Endpoint.Headers cannot set, in
// canonical form.
var reservedHeaders = map[string]bool{
	"Host":              true,
	"Content-Type":      true,
	"Content-Length":    true,
	"Transfer-Encoding": true,
	"Connection":        true,
	"User-Agent":        true,
}

func (ev Event) validate(maxPayload int) error {
	if err := validateID("event ID", ev.ID, true); err != nil {
		return err
	}
	if err := validateID("event type", ev.Type, false); err != nil {
		return err
	}
	if len(ev.Payload) > maxPayload {
		return invalid("payload of event %q is %d bytes, over the limit of %d", ev.ID, len(ev.Payload), maxPayload)
	}
	return nil
}

// validate checks ep and returns the keys of its secrets.
func (ep Endpoint) validate() ([][]byte, error) {
	if err := validateID("endpoint ID", ep.ID, true); err != nil {
		return nil, err
	}
	if err := validateURL(ep.URL); err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", ep.ID, err)
	}
	for name, value := range ep.Headers {
		if err := validateHeader(name, value); err != nil {
			return nil, fmt.Errorf("endpoint %q: %w", ep.ID, err)
		}
	}
	if math.IsNaN(ep.RateLimit) || math.IsInf(ep.RateLimit, 0) || ep.RateLimit < 0 || ep.Burst < 0 {
		return nil, invalid("endpoint %q: RateLimit and Burst must be finite and not negative", ep.ID)
	}
	keys, err := signingKeys(ep.Secrets)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", ep.ID, err)
	}
	return keys, nil
}

// validateID checks that s is printable ASCII of at most MaxIDLength bytes,
// and not empty when required.
func validateID(what, s string, required bool) error {
	if s == "" {
		if required {
			return invalid("%s is empty", what)
		}
		return nil
	}
	if len(s) > MaxIDLength {
		return invalid("%s is %d bytes, over the limit of %d", what, len(s), MaxIDLength)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return invalid("%s has a byte 0x%02x that is not printable ASCII", what, s[i])
		}
	}
	return nil
}

// validateURL checks an endpoint URL. Its errors never quote the URL, which
// may carry tokens.
func validateURL(raw string) error {
	if raw == "" {
		return invalid("URL is empty")
	}
	if len(raw) > MaxURLLength {
		return invalid("URL is %d bytes, over the limit of %d", len(raw), MaxURLLength)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x21 || raw[i] == 0x7f {
			return invalid("URL has a control character or space at byte %d", i)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return invalid("URL scheme must be http or https, not %q", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return invalid("URL has no host")
	}
	if u.User != nil {
		return invalid("URL carries user credentials; send them in Endpoint.Headers")
	}
	return nil
}

// validateHeader checks one extra request header.
func validateHeader(name, value string) error {
	if name == "" {
		return invalid("header name is empty")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return invalid("header name %q has an invalid byte 0x%02x", name, name[i])
		}
	}
	canonical := textproto.CanonicalMIMEHeaderKey(name)
	if reservedHeaders[canonical] || strings.HasPrefix(canonical, "Webhook-") {
		return invalid("header %s is set by the library and cannot be overridden", canonical)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return invalid("header %s has a control byte 0x%02x in its value", canonical, c)
		}
	}
	return nil
}

// isTokenByte reports whether c may appear in an HTTP header name (RFC 9110 token).
func isTokenByte(c byte) bool {
	if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
