package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader. It must never panic; it
// returns either a valid Config or an *Error whose every problem names a
// source and says what is wrong; and a valid Config printed by Marshal loads
// back unchanged.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, "default.yaml", "pbxha.example.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("probes:\n  sip: [{target: 'sip:h', accept: 2xx, timeout: 1, tls: {insecure: yes}}]\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("got error %v (%T), want *Error with problems", err, err)
			}
			for _, p := range ce.Problems {
				if p.File == "" || p.Msg == "" {
					t.Fatalf("got problem %+v without a source or message", p)
				}
			}
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := Parse("shown.yaml", out)
		if err != nil {
			t.Fatalf("shown config does not load: %v\n%s", err, out)
		}
		if got, want := plain(back), plain(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip: got\n%+v\nwant\n%+v", got, want)
		}
	})
}

// FuzzHostPort: the host:port parser never panics, and what it accepts has
// a port in range and a host that is empty, an IP address or a DNS name.
func FuzzHostPort(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8021", "[::1]:9464", ":9464", "localhost", "::1:80", "[::1", "h:+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := splitHostPort(s, true)
		if err != nil {
			return
		}
		if port < 1 || port > 65535 || (host != "" && !isHostName(host) && !isIPv6(host)) {
			t.Fatalf("splitHostPort(%q) = %q, %d; want a valid host and a port 1-65535", s, host, port)
		}
	})
}
