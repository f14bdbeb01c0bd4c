package configs

import (
	"testing"
)

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in       string
		needPort bool
		host     string
		port     int
		wantErr  string
	}{
		{in: "127.0.0.1:8021", needPort: true, host: "127.0.0.1", port: 8021},
		{in: ":9464", needPort: true, port: 9464},
		{in: "[::1]:9464", needPort: true, host: "::1", port: 9464},
		{in: "localhost:5038", needPort: true, host: "localhost", port: 5038},
		{in: "localhost", needPort: true, wantErr: "has no port; write host:port"},
		{in: "[::1]", needPort: true, wantErr: "has no port; write host:port"},
		{in: "::1:80", needPort: true, wantErr: "has an IPv6 address that is not in brackets, e.g. [2001:db8::1]:5060"},
		{in: "host:http", needPort: true, wantErr: `port "http" is not a number from 1 to 65535`},
		{in: "host:65536", needPort: true, wantErr: `port "65536" is not a number from 1 to 65535`},
		{in: "1.2.3.4.5:80", needPort: true, wantErr: `"1.2.3.4.5" is not an IP address or host name`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, port, err := splitHostPort(tt.in, tt.needPort)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || host != tt.host || port != tt.port {
				t.Errorf("got %q %d %v, want %q %d", host, port, err, tt.host, tt.port)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"interval", "timeout", "rise", "fall", "critical", "target"}
	tests := []struct{ in, want string }{
		{"timout", "timeout"},
		{"intervall", "interval"},
		{"crtical", "critical"},
		{"colour", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, keys); got != tt.want {
			t.Errorf("suggest(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
