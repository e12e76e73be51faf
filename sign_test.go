package delivery_test

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/webhookkit/delivery"
)

// The example of the Standard Webhooks specification and its reference
// libraries.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func specHeader() http.Header {
	h := http.Header{}
	h.Set(delivery.HeaderID, specID)
	h.Set(delivery.HeaderTimestamp, "1614265330")
	h.Set(delivery.HeaderSignature, specSignature)
	return h
}

func specVerifier(t *testing.T, secrets ...string) *delivery.Verifier {
	t.Helper()
	v, err := delivery.NewVerifier(secrets...)
	require.NoError(t, err)
	v.Now = func() time.Time { return time.Unix(specTimestamp, 0) }
	return v
}

func TestSignSpecExample(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{specSecret, strings.TrimPrefix(specSecret, "whsec_")} {
		sig, err := delivery.Sign([]string{secret}, specID, time.Unix(specTimestamp, 0), []byte(specPayload))
		require.NoError(t, err)
		require.Equal(t, specSignature, sig)
	}
}

func TestSignRotation(t *testing.T) {
	t.Parallel()
	other := delivery.NewSecret()
	sig, err := delivery.Sign([]string{specSecret, other}, specID, time.Unix(specTimestamp, 0), []byte(specPayload))
	require.NoError(t, err)
	parts := strings.Split(sig, " ")
	require.Len(t, parts, 2, "one signature per secret, space-separated")
	require.Equal(t, specSignature, parts[0])

	// A receiver that knows only the new secret accepts it.
	h := specHeader()
	h.Set(delivery.HeaderSignature, sig)
	require.NoError(t, specVerifier(t, other).Verify(h, []byte(specPayload)))

	sig, err = delivery.Sign(nil, specID, time.Unix(specTimestamp, 0), nil)
	require.NoError(t, err)
	require.Empty(t, sig, "no secrets, no signature")
}

func TestSignRejectsSecrets(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not base64":   "whsec_not*base64!",
		"empty":        "whsec_",
		"short key":    "whsec_c2hvcnQ=",
		"long key":     "whsec_" + strings.Repeat("QUFB", 22),
		"url encoding": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw-_",
	}
	for name, secret := range tests {
		_, err := delivery.Sign([]string{secret}, "id", time.Now(), nil)
		require.ErrorIs(t, err, delivery.ErrInvalidInput, name)
		if key := strings.TrimPrefix(secret, "whsec_"); key != "" {
			require.NotContains(t, err.Error(), key, "errors never quote a secret (%s)", name)
		}
		_, err = delivery.NewVerifier(secret)
		require.ErrorIs(t, err, delivery.ErrInvalidInput, "NewVerifier refuses what Sign refuses (%s)", name)
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := delivery.NewSecret(), delivery.NewSecret()
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "whsec_"))
	_, err := delivery.Sign([]string{a}, "id", time.Now(), nil)
	require.NoError(t, err)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	payload := []byte(specPayload)
	with := func(name, value string) http.Header {
		h := specHeader()
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	tests := []struct {
		name    string
		header  http.Header
		payload []byte
		want    error
	}{
		{"spec example", specHeader(), payload, nil},
		{"lower-case header names", http.Header{"webhook-id": {specID}, "webhook-timestamp": {"1614265330"}, "webhook-signature": {specSignature}}, payload, nil},
		{"one of several signatures", with(delivery.HeaderSignature, "v1,Zm9v "+specSignature+" v1,YmFy"), payload, nil},
		{"unknown versions ignored", with(delivery.HeaderSignature, "v1a,abc v2,"+strings.TrimPrefix(specSignature, "v1,")+" "+specSignature), payload, nil},
		{"only unknown versions", with(delivery.HeaderSignature, "v2,"+strings.TrimPrefix(specSignature, "v1,")), payload, delivery.ErrNoMatchingSignature},
		{"tampered payload", specHeader(), []byte(`{"test": 2432232315}`), delivery.ErrNoMatchingSignature},
		{"other id", with(delivery.HeaderID, "msg_other"), payload, delivery.ErrNoMatchingSignature},
		{"missing id", with(delivery.HeaderID, ""), payload, delivery.ErrMissingHeader},
		{"missing timestamp", with(delivery.HeaderTimestamp, ""), payload, delivery.ErrMissingHeader},
		{"missing signature", with(delivery.HeaderSignature, ""), payload, delivery.ErrMissingHeader},
		{"timestamp not a number", with(delivery.HeaderTimestamp, "16142653x0"), payload, delivery.ErrBadTimestamp},
		{"timestamp overflow", with(delivery.HeaderTimestamp, "99999999999999999999999"), payload, delivery.ErrBadTimestamp},
		{"timestamp too old", with(delivery.HeaderTimestamp, "1614265029"), payload, delivery.ErrBadTimestamp},
		{"timestamp too new", with(delivery.HeaderTimestamp, "1614265631"), payload, delivery.ErrBadTimestamp},
		{"timestamp with a sign", with(delivery.HeaderTimestamp, "+1614265330"), payload, delivery.ErrBadTimestamp},
		{"negative timestamp", with(delivery.HeaderTimestamp, "-1"), payload, delivery.ErrBadTimestamp},
		{"signature not base64", with(delivery.HeaderSignature, "v1,!!!"), payload, delivery.ErrNoMatchingSignature},
		{"signature without comma", with(delivery.HeaderSignature, "v1"), payload, delivery.ErrNoMatchingSignature},
		{"truncated signature", with(delivery.HeaderSignature, specSignature[:20]), payload, delivery.ErrNoMatchingSignature},
		{"two spaces between signatures", with(delivery.HeaderSignature, "v1,Zm9v  "+specSignature), payload, nil},
		{"a tab between signatures", with(delivery.HeaderSignature, "v1,Zm9v\t"+specSignature), payload, delivery.ErrNoMatchingSignature},
		{"a newline between signatures", with(delivery.HeaderSignature, "v1,Zm9v\n"+specSignature), payload, delivery.ErrNoMatchingSignature},
		{"a leading tab", with(delivery.HeaderSignature, "\t"+specSignature), payload, delivery.ErrNoMatchingSignature},
		// "E" and "F" differ only in the bits past the 32 bytes of the MAC:
		// lax base64 decodes both to the same bytes.
		{"non-canonical base64", with(delivery.HeaderSignature, strings.Replace(specSignature, "1OE=", "1OF=", 1)), payload, delivery.ErrNoMatchingSignature},
		{"base64 without padding", with(delivery.HeaderSignature, strings.TrimSuffix(specSignature, "=")), payload, delivery.ErrNoMatchingSignature},
	}
	v := specVerifier(t, specSecret)
	for _, tt := range tests {
		err := v.Verify(tt.header, tt.payload)
		if tt.want == nil {
			require.NoError(t, err, tt.name)
			continue
		}
		require.ErrorIs(t, err, tt.want, tt.name)
	}
}

func TestVerifyTolerance(t *testing.T) {
	t.Parallel()
	v := specVerifier(t, specSecret)
	for _, skew := range []time.Duration{-5 * time.Minute, 5 * time.Minute} {
		v.Now = func() time.Time { return time.Unix(specTimestamp, 0).Add(skew) }
		require.NoError(t, v.Verify(specHeader(), []byte(specPayload)), "within the default tolerance at %v", skew)
	}
	v.Tolerance = time.Minute
	for _, skew := range []time.Duration{-61 * time.Second, 61 * time.Second} {
		v.Now = func() time.Time { return time.Unix(specTimestamp, 0).Add(skew) }
		require.ErrorIs(t, v.Verify(specHeader(), []byte(specPayload)), delivery.ErrBadTimestamp, "skew %v", skew)
	}
}

func TestVerifierRotation(t *testing.T) {
	t.Parallel()
	v := specVerifier(t, delivery.NewSecret(), specSecret)
	require.NoError(t, v.Verify(specHeader(), []byte(specPayload)), "any one of the secrets verifies")
	require.ErrorIs(t, specVerifier(t, delivery.NewSecret()).Verify(specHeader(), []byte(specPayload)), delivery.ErrNoMatchingSignature)
}

func TestNewVerifierRejects(t *testing.T) {
	t.Parallel()
	_, err := delivery.NewVerifier()
	require.ErrorIs(t, err, delivery.ErrInvalidInput)
	_, err = delivery.NewVerifier("whsec_%%%")
	require.ErrorIs(t, err, delivery.ErrInvalidInput)
}

// Verify never panics, whatever the headers and body, and accepts only what
// the secret signed.
func FuzzVerify(f *testing.F) {
	f.Add(specID, "1614265330", specSignature, []byte(specPayload))
	f.Add("", "", "", []byte(nil))
	f.Add(specID, "-1", "v1, v1,,,, ,", []byte("x"))
	f.Add("a\x00b", "1614265330", "v1,"+strings.Repeat("A", 1000), []byte{0xff})
	v, err := delivery.NewVerifier(specSecret)
	require.NoError(f, err)
	v.Now = func() time.Time { return time.Unix(specTimestamp, 0) }
	f.Fuzz(func(t *testing.T, id, ts, sigs string, payload []byte) {
		h := http.Header{}
		h.Set(delivery.HeaderID, id)
		h.Set(delivery.HeaderTimestamp, ts)
		h.Set(delivery.HeaderSignature, sigs)
		if v.Verify(h, payload) != nil {
			return
		}
		want, err := delivery.Sign([]string{specSecret}, id, time.Unix(specTimestamp, 0), payload)
		require.NoError(t, err)
		require.Contains(t, strings.Fields(sigs), want, "accepted a header that does not carry the signature")
	})
}

// VerifyRequest and Middleware read the body with a bound, verify it, and
// hand it on; they answer what fails with the right status.
func TestVerifyRequestAndMiddleware(t *testing.T) {
	t.Parallel()
	v := specVerifier(t, specSecret)
	v.MaxBodySize = 64
	request := func(body string, h http.Header) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		maps.Copy(r.Header, h)
		return r
	}
	body, err := v.VerifyRequest(request(specPayload, specHeader()))
	require.NoError(t, err)
	require.Equal(t, specPayload, string(body))
	_, err = v.VerifyRequest(request(`{"test": 1}`, specHeader()))
	require.ErrorIs(t, err, delivery.ErrNoMatchingSignature)
	_, err = v.VerifyRequest(request(strings.Repeat("x", 65), specHeader()))
	require.ErrorIs(t, err, delivery.ErrBodyTooLarge)
	_, err = v.VerifyRequest(request(strings.Repeat("x", 64), specHeader()))
	require.ErrorIs(t, err, delivery.ErrNoMatchingSignature, "64 bytes are within the bound")

	var got string
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		got = string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tt := range []struct {
		name string
		r    *http.Request
		code int
	}{
		{"verified", request(specPayload, specHeader()), http.StatusNoContent},
		{"tampered", request(`{"test": 1}`, specHeader()), http.StatusUnauthorized},
		{"no headers", request(specPayload, nil), http.StatusUnauthorized},
		{"too large", request(strings.Repeat("x", 100), specHeader()), http.StatusRequestEntityTooLarge},
	} {
		got = ""
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tt.r)
		require.Equal(t, tt.code, w.Code, tt.name)
		if tt.code == http.StatusNoContent {
			require.Equal(t, specPayload, got, "the next handler reads the verified body")
		} else {
			require.Empty(t, got, "%s: the next handler is not called", tt.name)
		}
	}
}
