package alert

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignKnownVector(t *testing.T) {
	// Computed independently with Python: hmac.new(b"topsecret",
	// b'1700000000.{"id":"x"}', hashlib.sha256).hexdigest()
	const want = "sha256=f222a6bd6510f7a55e2f9c68bb0d0cd64ab31438cf9e89d64a903ae820701be6"
	if got := Sign([]byte("topsecret"), "1700000000", []byte(`{"id":"x"}`)); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("topsecret")
	body := []byte(`{"id":"x"}`)
	now := time.Unix(1700000000, 0)
	good := Sign(secret, "1700000000", body)
	tests := []struct {
		name    string
		secret  []byte
		ts      string
		body    []byte
		sig     string
		now     time.Time
		skew    time.Duration
		wantErr string // empty: valid
	}{
		{name: "valid", secret: secret, ts: "1700000000", body: body, sig: good, now: now, skew: 5 * time.Minute},
		{name: "valid without skew check", secret: secret, ts: "1700000000", body: body, sig: good, now: now.Add(48 * time.Hour)},
		{name: "wrong secret", secret: []byte("other"), ts: "1700000000", body: body, sig: good, now: now, wantErr: "signature does not match"},
		{name: "body changed", secret: secret, ts: "1700000000", body: []byte(`{"id":"y"}`), sig: good, now: now, wantErr: "signature does not match"},
		{name: "timestamp changed", secret: secret, ts: "1700000001", body: body, sig: good, now: now, wantErr: "signature does not match"},
		{name: "replayed later", secret: secret, ts: "1700000000", body: body, sig: good, now: now.Add(10 * time.Minute), skew: 5 * time.Minute, wantErr: "more than 5m0s"},
		{name: "from the future", secret: secret, ts: "1700000000", body: body, sig: good, now: now.Add(-10 * time.Minute), skew: 5 * time.Minute, wantErr: "more than 5m0s"},
		{name: "timestamp not a number", secret: secret, ts: "yesterday", body: body, sig: good, now: now, wantErr: "not decimal Unix seconds"},
		{name: "no algorithm prefix", secret: secret, ts: "1700000000", body: body, sig: strings.TrimPrefix(good, "sha256="), now: now, wantErr: "want sha256=<hex>"},
		{name: "empty signature", secret: secret, ts: "1700000000", body: body, sig: "", now: now, wantErr: "want sha256=<hex>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.ts, tt.body, tt.sig, tt.now, tt.skew)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr == "signature does not match" && !errors.Is(err, ErrBadSignature) {
				t.Errorf("got %v, want it to wrap ErrBadSignature", err)
			}
		})
	}
}
