package sipcheck

import (
	"strings"
	"testing"
)

func TestParseCodes(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		has     []int
		hasNot  []int
		str     string
		wantErr string
	}{
		{name: "single", in: "200", has: []int{200}, hasNot: []int{201, 404}, str: "200"},
		{name: "classes and codes", in: "2xx,401,403,404", has: []int{200, 299, 401, 403, 404}, hasNot: []int{402, 503}, str: "2xx,401,403,404"},
		{name: "spaces and upper case", in: " 2XX , 404 ", has: []int{250, 404}, str: "2xx,404"},
		{name: "range", in: "500-503", has: []int{500, 503}, hasNot: []int{504}, str: "500-503"},
		{name: "two adjacent", in: "401,402", str: "401,402"},
		{name: "none", in: "none", hasNot: []int{200, 503}, str: "none"},
		{name: "empty", in: "", wantErr: "empty code list"},
		{name: "provisional class", in: "1xx", wantErr: "provisional"},
		{name: "provisional code", in: "180", wantErr: "provisional"},
		{name: "too high", in: "700", wantErr: "end at 699"},
		{name: "class out of range", in: "7xx", wantErr: "2xx to 6xx"},
		{name: "word", in: "200,ok", wantErr: `"ok" is not a code`},
		{name: "backwards range", in: "599-500", wantErr: "backwards"},
		{name: "empty item", in: "200,,404", wantErr: "empty item"},
		{name: "none mixed", in: "none,200", wantErr: "must stand alone"},
		{name: "signed", in: "+20", wantErr: "is not a code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ParseCodes(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got err %v, want none", err)
			}
			for _, c := range tc.has {
				if !set.Has(c) {
					t.Errorf("got Has(%d)=false, want true", c)
				}
			}
			for _, c := range tc.hasNot {
				if set.Has(c) {
					t.Errorf("got Has(%d)=true, want false", c)
				}
			}
			if got := set.String(); got != tc.str {
				t.Errorf("got String %q, want %q", got, tc.str)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{name: "minimal", cfg: Config{Target: "sip:127.0.0.1"}},
		{name: "bad everything", cfg: Config{Target: "http://x", Accept: "20", Degraded: "9xx", FromUser: "a b"},
			wantErr: []string{"target:", "accept:", "degraded:", "from_user:"}},
		{name: "overlap", cfg: Config{Target: "sip:127.0.0.1", Accept: "2xx,5xx"}, wantErr: []string{"degraded: code 503 is also accepted"}},
		{name: "accept none", cfg: Config{Target: "sip:127.0.0.1", Accept: "none"}, wantErr: []string{"accept: no code would pass"}},
		{name: "tls on udp", cfg: Config{Target: "sip:127.0.0.1", TLS: TLSConfig{Insecure: true}}, wantErr: []string{"does not use TLS"}},
		{name: "missing CA file", cfg: Config{Target: "sips:127.0.0.1", TLS: TLSConfig{CAFile: "/nonexistent/ca.pem"}}, wantErr: []string{"tls.ca_file:"}},
		{name: "bad local host", cfg: Config{Target: "sip:127.0.0.1", LocalHost: "a b"}, wantErr: []string{"local_host:"}},
		{name: "ipv6 local host", cfg: Config{Target: "sip:[::1]", LocalHost: "::1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
