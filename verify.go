package delivery

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors returned by Verifier.Verify, matched with errors.Is.
var (
	// ErrMissingHeader: a webhook-id, webhook-timestamp or webhook-signature
	// header is absent or empty.
	ErrMissingHeader = errors.New("delivery: missing webhook header")
	// ErrBadTimestamp: webhook-timestamp is not a Unix time in seconds, or
	// lies outside the tolerance, in the past or in the future.
	ErrBadTimestamp = errors.New("delivery: webhook timestamp is invalid or outside the tolerance")
	// ErrNoMatchingSignature: no v1 signature in webhook-signature matches
	// the payload under any of the secrets.
	ErrNoMatchingSignature = errors.New("delivery: no matching webhook signature")
	// ErrBodyTooLarge: VerifyRequest read more than Verifier.MaxBodySize
	// bytes of the request body.
	ErrBodyTooLarge = errors.New("delivery: webhook body too large")
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock, in either direction, unless Verifier.Tolerance says
// otherwise.
const DefaultTolerance = 5 * time.Minute

// Verifier checks signed webhook requests on the receiving side, as
// Standard Webhooks specifies. It is for services that receive webhooks,
// from this library or any other Standard Webhooks sender.
//
// A Verifier is safe for concurrent use once its fields are set.
type Verifier struct {
	keys [][]byte

	// Tolerance is how far webhook-timestamp may be from Now, in either
	// direction. Defaults to DefaultTolerance when zero.
	Tolerance time.Duration
	// Now returns the current time. Defaults to time.Now when nil.
	Now func() time.Time
	// MaxBodySize is the most body bytes VerifyRequest and Middleware
	// read. Defaults to DefaultMaxPayloadSize when zero.
	MaxBodySize int64
}

// VerifyRequest reads r's body, at most MaxBodySize bytes, checks it as
// Verify does, and returns it. It returns an error wrapping ErrBodyTooLarge
// for a longer body, the read error when the body cannot be read, or
// Verify's error; the body is returned only when the request verifies. It
// does not close r.Body: the server does.
func (v *Verifier) VerifyRequest(r *http.Request) ([]byte, error) {
	limit := v.MaxBodySize
	if limit <= 0 {
		limit = DefaultMaxPayloadSize
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("delivery: read webhook body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, limit)
	}
	if err := v.Verify(r.Header, body); err != nil {
		return nil, err
	}
	return body, nil
}

// Middleware returns a handler that passes to next only the requests that
// VerifyRequest accepts, with the body it read in place of r.Body. It
// answers the others itself: 413 when the body is too large, 400 when it
// cannot be read, and 401 when the signature or timestamp does not verify,
// with a short plain-text reason that names no secret.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.VerifyRequest(r)
		switch {
		case errors.Is(err, ErrBodyTooLarge):
			http.Error(w, "webhook body too large", http.StatusRequestEntityTooLarge)
			return
		case errors.Is(err, ErrMissingHeader), errors.Is(err, ErrBadTimestamp), errors.Is(err, ErrNoMatchingSignature):
			http.Error(w, "invalid webhook signature", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "cannot read webhook body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// NewVerifier returns a Verifier that accepts a request signed with any one
// of the secrets, so that a receiver can rotate them. Secrets are in the
// "whsec_<base64>" form, with or without the prefix. It accepts exactly the
// secrets that Sign and Deliver accept: keys of 24 to 64 bytes, as
// Standard Webhooks asks. It returns an error wrapping ErrInvalidInput
// when there is no secret or one is malformed.
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, invalid("a verifier needs at least one secret")
	}
	keys, err := signingKeys(secrets)
	if err != nil {
		return nil, err
	}
	return &Verifier{keys: keys}, nil
}

// Verify checks that header carries a valid signature of payload, the raw
// request body, with a timestamp within the tolerance. It returns nil, or an
// error wrapping ErrMissingHeader, ErrBadTimestamp or
// ErrNoMatchingSignature. Signatures with versions other than v1 are
// ignored. As the Standard Webhooks reference does, it reads the
// signatures separated by single spaces only (a tab or a newline is part of
// a signature, which then matches nothing), and decodes them as strict
// standard base64, so that a non-canonical encoding of a valid signature
// (other trailing bits in its last character) matches nothing either.
// Comparisons take constant time.
func (v *Verifier) Verify(header http.Header, payload []byte) error {
	id, ts, sigs := headerValue(header, HeaderID), headerValue(header, HeaderTimestamp), headerValue(header, HeaderSignature)
	for _, h := range [...]struct{ name, value string }{{HeaderID, id}, {HeaderTimestamp, ts}, {HeaderSignature, sigs}} {
		if h.value == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, h.name)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strings.IndexFunc(ts, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return fmt.Errorf("%w: %s is not a decimal integer", ErrBadTimestamp, HeaderTimestamp)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	nowUnix := now().Unix()
	limit := int64(tolerance / time.Second)
	if unix < nowUnix-limit || unix > nowUnix+limit {
		return fmt.Errorf("%w: %d is more than %v from now (%d)", ErrBadTimestamp, unix, tolerance, nowUnix)
	}
	want := make([][]byte, len(v.keys))
	for i, key := range v.keys {
		want[i] = mac(nil, key, id, ts, payload)
	}
	matched := false
	for sig := range strings.SplitSeq(sigs, " ") {
		version, encoded, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.Strict().DecodeString(encoded)
		if err != nil {
			continue
		}
		for _, w := range want {
			// Keep comparing after a match so the time taken does not
			// tell which signature matched.
			if hmac.Equal(got, w) {
				matched = true
			}
		}
	}
	if !matched {
		return ErrNoMatchingSignature
	}
	return nil
}

// headerValue returns the first value of the named header. It also finds
// names that were stored without canonicalization, as a header map built
// by hand or by another framework may hold them.
func headerValue(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}
