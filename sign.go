package delivery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks request headers.
const (
	// HeaderID carries the event ID, the same on every attempt.
	HeaderID = "webhook-id"
	// HeaderTimestamp carries the send time in Unix seconds.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature carries the space-separated signatures.
	HeaderSignature = "webhook-signature"
)

// secretPrefix starts every secret in the Standard Webhooks form.
const secretPrefix = "whsec_"

// Signing key sizes, in bytes, as the Standard Webhooks specification asks.
const (
	minSigningKey = 24
	maxSigningKey = 64
)

// NewSecret returns a new random signing secret: "whsec_" and the base64 of
// 32 random bytes.
func NewSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails.
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// decodeSecret returns the key of a secret in the "whsec_<base64>" form; the
// prefix may be left out. Errors never quote the secret.
func decodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, invalid("secret is not whsec_ followed by standard base64")
	}
	if len(key) == 0 {
		return nil, invalid("secret is empty")
	}
	return key, nil
}

// signingKeys decodes the secrets an endpoint signs with.
func signingKeys(secrets []string) ([][]byte, error) {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		key, err := decodeSecret(s)
		if err != nil {
			return nil, err
		}
		if len(key) < minSigningKey || len(key) > maxSigningKey {
			return nil, invalid("secret %d of %d has a %d-byte key; signing keys must have %d to %d bytes", i+1, len(secrets), len(key), minSigningKey, maxSigningKey)
		}
		keys[i] = key
	}
	return keys, nil
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64>" signature for each secret, separated by spaces. Each is the
// base64 of HMAC-SHA256(key, id + "." + timestamp + "." + payload), with the
// timestamp in Unix seconds, as Standard Webhooks specifies. With no
// secrets it returns the empty string and no error: Deliver then sends no
// webhook-signature header. It returns an error wrapping ErrInvalidInput
// for a malformed secret, or one whose key is not 24 to 64 bytes long; the
// same secrets that NewVerifier refuses.
func Sign(secrets []string, id string, timestamp time.Time, payload []byte) (string, error) {
	keys, err := signingKeys(secrets)
	if err != nil {
		return "", err
	}
	return signature(keys, id, strconv.FormatInt(timestamp.Unix(), 10), payload), nil
}

func signature(keys [][]byte, id, timestamp string, payload []byte) string {
	// "v1," and 44 base64 characters a key, and the spaces between.
	b := make([]byte, 0, len(keys)*48)
	var sum [sha256.Size]byte
	for i, key := range keys {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, "v1,"...)
		b = base64.StdEncoding.AppendEncode(b, mac(sum[:0], key, id, timestamp, payload))
	}
	return string(b)
}

// mac appends HMAC-SHA256(key, id + "." + timestamp + "." + payload) to
// dst.
func mac(dst, key []byte, id, timestamp string, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(payload)
	return h.Sum(dst)
}
