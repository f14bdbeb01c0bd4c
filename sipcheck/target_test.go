package sipcheck

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	cases := []struct {
		in        string
		transport string
		host      string
		port      int
		wantErr   string
	}{
		{in: "sip:127.0.0.1:5060;transport=udp", transport: "udp", host: "127.0.0.1", port: 5060},
		{in: "sip:127.0.0.1", transport: "udp", host: "127.0.0.1", port: 5060},
		{in: "sip:pbx.example.net;transport=TCP", transport: "tcp", host: "pbx.example.net", port: 5060},
		{in: "sip:10.0.0.1:5080;transport=tls", transport: "tls", host: "10.0.0.1", port: 5080},
		{in: "sips:pbx.example.net", transport: "tls", host: "pbx.example.net", port: 5061},
		{in: "sips:pbx.example.net;transport=tcp", transport: "tls", host: "pbx.example.net", port: 5061},
		{in: "sip:[::1]:5062;transport=tcp", transport: "tcp", host: "::1", port: 5062},
		{in: "sip:ping@127.0.0.1", transport: "udp", host: "127.0.0.1", port: 5060},
		{in: "", wantErr: "empty URI"},
		{in: "127.0.0.1:5060", wantErr: "scheme must be sip: or sips:"},
		{in: "tel:+15551234", wantErr: "scheme must be sip: or sips:"},
		{in: "sip:127.0.0.1;transport=ws", wantErr: `transport "ws" is not supported`},
		{in: "sips:127.0.0.1;transport=udp", wantErr: "needs transport tcp or tls"},
		{in: "sip:127.0.0.1:99999", wantErr: "out of range"},
		{in: "sip:127.0.0.1:abc", wantErr: "target"},
		{in: "sip:[::1", wantErr: "bracket"},
		{in: "sip:bad host", wantErr: "not a host name"},
		{in: "sip:127.0.0.1?subject=x", wantErr: "headers"},
		{in: "sip:-bad-.example", wantErr: "not a host name"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got err %v, want none", err)
			}
			if got.Transport != tc.transport || got.Host != tc.host || got.Port != tc.port {
				t.Errorf("got %s/%s/%d, want %s/%s/%d", got.Transport, got.Host, got.Port, tc.transport, tc.host, tc.port)
			}
			if got.String() != tc.in {
				t.Errorf("got String %q, want %q", got.String(), tc.in)
			}
		})
	}
}
