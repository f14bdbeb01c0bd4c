package failover

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary datagrams to Decode. It must never panic, must
// fail with one of the documented errors, and whatever it accepts must
// re-encode to the same bytes; a single changed byte of an accepted packet
// must be rejected.
func FuzzDecode(f *testing.F) {
	f.Add(mustEncode(f, sampleHeartbeat()))
	f.Add(mustEncode(f, Heartbeat{Cluster: "pbx-pair", Node: "n", Seq: 1}))
	f.Add(mustEncode(f, Heartbeat{Version: 1, Cluster: "pbx-pair", Node: "n", Seq: 1}))
	f.Add([]byte("PBHA\x01\x00\x27"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Decode(testKey, "pbx-pair", b)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkCanonical(t, h, b)
		for _, i := range []int{0, len(b) / 2, len(b) - 1} {
			c := bytes.Clone(b)
			c[i] ^= 0x20
			if _, err := Decode(testKey, "pbx-pair", c); err == nil {
				t.Fatalf("byte %d changed: got accepted, want an error", i)
			}
		}
	})
}

// FuzzDecodeSigned signs whatever body the fuzzer makes (fixing the length
// field and appending a valid MAC) so that the field parser behind the MAC is
// explored too: never a panic, only documented errors, canonical when accepted.
func FuzzDecodeSigned(f *testing.F) {
	good := mustEncode(f, sampleHeartbeat())
	f.Add(good[:len(good)-macSize])
	min := mustEncode(f, Heartbeat{Cluster: "pbx-pair", Node: "n", Seq: 1})
	f.Add(min[:len(min)-macSize])
	f.Add([]byte("PBHA\x01\x00\x00\x08pbx-pair"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) < headerSize || len(body)+macSize > 0xffff {
			return
		}
		body = bytes.Clone(body)
		binary.BigEndian.PutUint16(body[5:7], uint16(len(body)+macSize))
		b := appendMAC(body, 0, testKey)
		h, err := Decode(testKey, "pbx-pair", b)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkCanonical(t, h, b)
	})
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	for _, want := range []error{ErrTruncated, ErrBadMAC, ErrVersion, ErrCluster, ErrMalformed} {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("got undocumented error %v", err)
}

func checkCanonical(t *testing.T, h Heartbeat, b []byte) {
	t.Helper()
	if h.Version < MinVersion || h.Version > Version || h.Cluster != "pbx-pair" {
		t.Fatalf("accepted version %d cluster %q", h.Version, h.Cluster)
	}
	again, err := Encode(testKey, h)
	if err != nil {
		t.Fatalf("accepted %x but cannot re-encode it: %v", b, err)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("re-encoded\n%x\nwant\n%x", again, b)
	}
}
