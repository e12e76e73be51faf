package delivery

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Attempt is the audit record of one HTTP try to deliver one event to one
// endpoint. It is created pending and changed exactly once, by the library,
// to a final status (success, failure or canceled); after that it never
// changes. Hosts read attempts through a Store; no API of this package lets
// them edit one.
//
// Every HTTP request the library sends has an attempt, stored before the
// request leaves. An attempt may have no request behind it: a canceled
// one, one that failed before sending (an endpoint lookup error), and one
// recorded as "lease expired", whose sender died and may or may not have
// sent it (AttemptedAt is zero for all of these).
//
// The JSON names of the fields are part of the public contract.
type Attempt struct {
	// ID is a ULID. IDs made by one process increase strictly, so they sort
	// by creation.
	ID string `json:"id"`
	// EventID is the ID of the event delivered. It is also the webhook-id
	// header, stable across every attempt of the event.
	EventID string `json:"event_id"`
	// EventType is the event's type, as given in Event.Type.
	EventType string `json:"event_type"`
	// EndpointID is the ID of the endpoint delivered to.
	EndpointID string `json:"endpoint_id"`
	// EndpointURL is the endpoint's URL when this attempt was created. A
	// later change to the endpoint never rewrites it.
	EndpointURL string `json:"endpoint_url"`
	// Status is pending until the attempt completes.
	Status Status `json:"status"`
	// AttemptNumber counts the attempts of this event to this endpoint,
	// starting at 1. No two attempts of one event to one endpoint share a
	// number.
	AttemptNumber int `json:"attempt_number"`
	// Trigger tells what created the attempt: the first try, a retry, or a
	// manual resend.
	Trigger Trigger `json:"trigger"`

	// Response is the HTTP response body, cut at Config.MaxResponseBodySize
	// bytes (see ResponseTruncated). It holds the bytes as received, which
	// need not be valid UTF-8.
	Response string `json:"response"`
	// ResponseTruncated reports whether the body was longer than the cap.
	ResponseTruncated bool `json:"response_truncated"`
	// ResponseStatusCode is the HTTP status code, or 0 when no response
	// arrived.
	ResponseStatusCode int `json:"response_status_code"`
	// ResponseHeaders are the HTTP response headers, nil when no response
	// arrived.
	ResponseHeaders http.Header `json:"response_headers"`
	// Error describes why no usable response arrived (a refused connection,
	// a timeout, a TLS failure), or is empty. It never holds a secret or the
	// endpoint URL's credentials.
	Error string `json:"error,omitempty"`

	// AttemptedAt is when the request was sent; the zero time, absent from
	// JSON, while it was not.
	AttemptedAt time.Time `json:"attempted_at,omitzero"`
	// Duration is how long the request took, from sending it to the end of
	// reading the response; zero while not sent. JSON carries it in
	// nanoseconds.
	Duration time.Duration `json:"duration_ns"`
	// ScheduledAt is when the attempt is due.
	ScheduledAt time.Time `json:"scheduled_at"`
}

// Final reports whether the attempt has reached a final status.
func (a Attempt) Final() bool { return a.Status != StatusPending }

// Clone returns a deep copy of a: its ResponseHeaders map is copied too.
// Stores use it to hand out records that callers may modify freely.
func (a Attempt) Clone() Attempt {
	a.ResponseHeaders = a.ResponseHeaders.Clone()
	return a
}

// Trigger tells what created an attempt.
type Trigger string

// The triggers of an attempt.
const (
	// TriggerFirst is the first attempt of an event to an endpoint.
	TriggerFirst Trigger = "first"
	// TriggerRetry is an attempt scheduled after a failed one.
	TriggerRetry Trigger = "retry"
	// TriggerManual is an attempt a host asked for explicitly.
	TriggerManual Trigger = "manual"
)

// Status is the state of an Attempt. Its integer values are stable and are
// what SQL stores hold; its text form is the lower-case word.
type Status int

// The statuses of an attempt. Only StatusPending is not final.
const (
	// StatusSuccess: the endpoint answered with a 2xx status code.
	StatusSuccess Status = 0
	// StatusFailure: the endpoint answered otherwise, or no answer came.
	StatusFailure Status = 1
	// StatusPending: the attempt is due or in flight.
	StatusPending Status = 2
	// StatusCanceled: no request was made for the attempt, and none will
	// be: the event was canceled (CancelEvent), its endpoint was reported
	// gone, or the endpoint's URL changed and a new attempt superseded it.
	StatusCanceled Status = 3
)

var statusNames = [...]string{
	StatusSuccess:  "success",
	StatusFailure:  "failure",
	StatusPending:  "pending",
	StatusCanceled: "canceled",
}

// Valid reports whether s is one of the four defined statuses.
func (s Status) Valid() bool { return s >= StatusSuccess && s <= StatusCanceled }

// String returns the lower-case word for s, or "Status(N)" for an undefined
// value.
func (s Status) String() string {
	if !s.Valid() {
		return "Status(" + strconv.Itoa(int(s)) + ")"
	}
	return statusNames[s]
}

// ParseStatus returns the status named by word, in any letter case. It also
// accepts "cancelled". Any other word is an error.
func ParseStatus(word string) (Status, error) {
	w := strings.ToLower(word)
	if w == "cancelled" {
		return StatusCanceled, nil
	}
	for s, name := range statusNames {
		if w == name {
			return Status(s), nil
		}
	}
	return 0, fmt.Errorf("delivery: unknown status %q", word)
}

// MarshalText implements encoding.TextMarshaler. An undefined status is an
// error.
func (s Status) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("delivery: cannot marshal undefined %v", s)
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseStatus.
func (s *Status) UnmarshalText(text []byte) error {
	v, err := ParseStatus(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalJSON accepts a status word (as UnmarshalText does) or one of the
// integers 0 to 3. Anything else is an error.
func (s *Status) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var word string
		if err := json.Unmarshal(data, &word); err != nil {
			return fmt.Errorf("delivery: status: %w", err)
		}
		return s.UnmarshalText([]byte(word))
	}
	n, err := strconv.Atoi(string(data))
	if err != nil || !Status(n).Valid() {
		return fmt.Errorf("delivery: unknown status %s", data)
	}
	*s = Status(n)
	return nil
}

// Value implements driver.Valuer: a status is stored as its integer. An
// undefined status is an error.
func (s Status) Value() (driver.Value, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("delivery: cannot store undefined %v", s)
	}
	return int64(s), nil
}

// Scan implements sql.Scanner. It reads the integer form, from an integer
// column or from its decimal text (as some drivers return it). NULL and
// undefined values are errors.
func (s *Status) Scan(src any) error {
	var n int64
	switch v := src.(type) {
	case int64:
		n = v
	case []byte:
		return s.scanDecimal(string(v))
	case string:
		return s.scanDecimal(v)
	default:
		return fmt.Errorf("delivery: cannot scan %T into a status", src)
	}
	if !Status(n).Valid() {
		return fmt.Errorf("delivery: unknown status %d", n)
	}
	*s = Status(n)
	return nil
}

func (s *Status) scanDecimal(text string) error {
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return fmt.Errorf("delivery: cannot scan %q into a status", text)
	}
	return s.Scan(n)
}
