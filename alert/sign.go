package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers pbxha sets on every webhook request.
const (
	HeaderTimestamp = "X-Pbxha-Timestamp" // Unix seconds when the request was signed
	HeaderSignature = "X-Pbxha-Signature" // "sha256=" + hex HMAC-SHA256 of timestamp + "." + body
	HeaderEventID   = "X-Pbxha-Event-Id"  // the event ID, the same on every retry
)

// ErrBadSignature is returned by Verify when the signature does not match.
var ErrBadSignature = errors.New("signature does not match")

// Sign returns "sha256=<hex>", the HMAC-SHA256 under secret of ts, a dot and
// body. ts is the X-Pbxha-Timestamp value (decimal Unix seconds).
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request's X-Pbxha-Signature (signature) against its
// X-Pbxha-Timestamp (ts) and raw body, in constant time. When maxSkew is
// positive it also refuses a timestamp further than maxSkew from now, which
// stops replays of old requests. It returns nil when the request is authentic.
func Verify(secret []byte, ts string, body []byte, signature string, now time.Time, maxSkew time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("alert: verify: timestamp %q is not decimal Unix seconds", ts)
	}
	if !strings.HasPrefix(signature, "sha256=") {
		return fmt.Errorf("alert: verify: signature %q: want sha256=<hex>", signature)
	}
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return fmt.Errorf("alert: verify: %w", ErrBadSignature)
	}
	if maxSkew > 0 {
		skew := now.Sub(time.Unix(sec, 0))
		if skew > maxSkew || skew < -maxSkew {
			return fmt.Errorf("alert: verify: timestamp %s is %s away from now, more than %s", ts, skew.Round(time.Second), maxSkew)
		}
	}
	return nil
}
