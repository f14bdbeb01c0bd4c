package esl

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return string(b)
}

func dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		body    string
		want    Status
		wantErr error
	}{
		{
			name:    "1.10 ready",
			fixture: "status-1.10.txt",
			want: Status{
				Uptime: dur("5m12.034056s"), HasUptime: true, Version: "1.10.9 -release 64bit", Ready: true, HasReady: true,
				SessionsSinceStartup: 12, Sessions: 3, SessionsPeak: 5, SessionsPeak5Min: 4, HasSessions: true, HasPeak: true,
				SPS: 0, SPSMax: 30, SPSPeak: 2, SPSPeak5Min: 1, HasSPS: true,
				MaxSessions: 1000, HasMax: true, MinIdleCPU: 0, IdleCPU: 97.43, HasIdleCPU: true,
			},
		},
		{
			name:    "1.10 not ready",
			fixture: "status-1.10-not-ready.txt",
			want: Status{
				Uptime: dur("3.120007s"), HasUptime: true,
				Version: "1.10.12 -release-10222002881-a88d069d6fgit a88d069 2024-08-02 21:02:27Z 64bit", Ready: false, HasReady: true,
				HasSessions: true, HasPeak: true, SPSMax: 30, HasSPS: true, MaxSessions: 1000, HasMax: true, IdleCPU: 99.10, HasIdleCPU: true,
			},
		},
		{
			name:    "1.8 busy: current sessions, not the lifetime count",
			fixture: "status-1.8-busy.txt",
			want: Status{
				Uptime: dur("2h9m54.455408s"), HasUptime: true, Version: "1.8.7 64bit", Ready: true, HasReady: true,
				SessionsSinceStartup: 11773, Sessions: 4759, SessionsPeak: 5159, SessionsPeak5Min: 4759, HasSessions: true, HasPeak: true,
				SPS: 72, SPSMax: 1000, SPSPeak: 107, SPSPeak5Min: 97, HasSPS: true,
				MaxSessions: 5000, HasMax: true, IdleCPU: 3.07, HasIdleCPU: true,
			},
		},
		{
			name:    "1.4 singular units, no sps peak",
			fixture: "status-1.4-no-sps-peak.txt",
			want: Status{
				Uptime: dur("8785h1m1.001001s"), HasUptime: true, Version: "1.4.20  64bit", Ready: true, HasReady: true,
				SessionsSinceStartup: 5, Sessions: 3, SessionsPeak: 8, SessionsPeak5Min: 2, HasSessions: true, HasPeak: true,
				SPS: 1, SPSMax: 30, HasSPS: true, MaxSessions: 1000, HasMax: true, IdleCPU: 98.5, HasIdleCPU: true,
			},
		},
		{
			name:    "1.2 sessions last/limit line",
			fixture: "status-1.2.txt",
			want: Status{
				Uptime: dur("76h0m10.002009s"), HasUptime: true, Ready: true, HasReady: true,
				SessionsSinceStartup: 1402, Sessions: 2, HasSessions: true, SPS: 1, SPSMax: 30, HasSPS: true,
				MaxSessions: 1000, HasMax: true, MinIdleCPU: 20, IdleCPU: 96, HasIdleCPU: true,
			},
		},
		{
			name:    "1.0 with html content-type prefix, no ready line",
			fixture: "status-1.0-html-prefix.txt",
			want: Status{
				Uptime: dur("1h2m3.004005s"), HasUptime: true,
				SessionsSinceStartup: 7, Sessions: 1, HasSessions: true, SPS: 0, SPSMax: 30, HasSPS: true,
			},
		},
		{
			name: "html markup",
			body: "<h1>FreeSWITCH Status</h1>\n<b>UP 0 years, 0 days, 0 hours, 0 minutes, 1 second, 0 milliseconds, 0 microseconds\nFreeSWITCH is ready\n</b>\n",
			want: Status{Uptime: time.Second, HasUptime: true, Ready: true, HasReady: true},
		},
		{
			name: "CRLF line endings",
			body: "UP 0 years, 0 days, 0 hours, 0 minutes, 2 seconds, 0 milliseconds, 0 microseconds\r\nFreeSWITCH (Version 1.10.9) is ready\r\n7 session(s) - peak 9, last 5min 8 \r\n",
			want: Status{Uptime: 2 * time.Second, HasUptime: true, Version: "1.10.9", Ready: true, HasReady: true, Sessions: 7, SessionsPeak: 9, SessionsPeak5Min: 8, HasSessions: true, HasPeak: true},
		},
		{
			name: "huge uptime saturates",
			body: "UP 4294967295 years, 0 days, 0 hours, 0 minutes, 0 seconds, 0 milliseconds, 0 microseconds\n",
			want: Status{Uptime: time.Duration(1<<63 - 1), HasUptime: true},
		},
		{name: "command error", fixture: "err-command-not-found.txt", wantErr: ErrNotStatus},
		{name: "sofia output is not status", fixture: "sofia-status-1.10.txt", wantErr: ErrNotStatus},
		{name: "empty", body: "", wantErr: ErrNotStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.fixture != "" {
				body = fixture(t, tt.fixture)
			}
			got, err := ParseStatus(body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got err %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseSofiaStatus(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		body    string
		want    SofiaStatus
		wantErr error
	}{
		{
			name:    "1.10 profiles, alias, gateways",
			fixture: "sofia-status-1.10.txt",
			want: SofiaStatus{
				Profiles: []SofiaProfile{
					{Name: "external", URL: "sip:mod_sofia@192.0.2.10:5080", State: "RUNNING"},
					{Name: "internal", URL: "sip:mod_sofia@192.0.2.10:5060", State: "RUNNING", InUse: 3},
				},
				Aliases: []SofiaAlias{{Name: "192.0.2.10", Profile: "internal"}},
				Gateways: []SofiaGateway{
					{Name: "external::carrier1", Profile: "external", To: "sip:trunk@carrier1.example.com", State: "REGED"},
					{Name: "external::carrier2", Profile: "external", To: "sip:carrier2.example.net", State: "NOREG"},
				},
			},
		},
		{
			name:    "TLS row merged, failing gateways with retry",
			fixture: "sofia-status-tls-gateway-failed.txt",
			want: SofiaStatus{
				Profiles: []SofiaProfile{
					{Name: "internal", URL: "sip:mod_sofia@192.0.2.10:5060", TLSURL: "sips:mod_sofia@192.0.2.10:5061", State: "RUNNING", InUse: 12},
					{Name: "external", URL: "sip:mod_sofia@192.0.2.10:5080", State: "RUNNING"},
				},
				Gateways: []SofiaGateway{
					{Name: "external::carrier1", Profile: "external", To: "sip:trunk@carrier1.example.com", State: "FAIL_WAIT", Detail: "(retry: 28s)"},
					{Name: "external::backup", Profile: "external", To: "sip:trunk@backup.example.com", State: "TRYING", Detail: "(retry: NEVER)"},
				},
			},
		},
		{
			name:    "profile DOWN",
			fixture: "sofia-status-down.txt",
			want: SofiaStatus{Profiles: []SofiaProfile{
				{Name: "internal", URL: "sip:mod_sofia@192.0.2.10:5060", State: "RUNNING"},
				{Name: "external", URL: "sip:mod_sofia@192.0.2.10:5080", State: "DOWN"},
			}},
		},
		{name: "empty table", fixture: "sofia-status-empty.txt", want: SofiaStatus{}},
		{
			name:    "singular footer is not a row",
			fixture: "sofia-status-internal-only.txt",
			want:    SofiaStatus{Profiles: []SofiaProfile{{Name: "internal", URL: "sip:mod_sofia@192.0.2.10:5060", State: "RUNNING"}}},
		},
		{
			name: "space separated columns",
			body: "Name Type Data State\n====\ninternal profile sip:mod_sofia@10.0.0.1:5060 RUNNING (1)\n====\n",
			want: SofiaStatus{Profiles: []SofiaProfile{{Name: "internal", URL: "sip:mod_sofia@10.0.0.1:5060", State: "RUNNING", InUse: 1}}},
		},
		{name: "command error", fixture: "err-command-not-found.txt", wantErr: ErrNotSofiaStatus},
		{name: "status output is not sofia", fixture: "status-1.10.txt", wantErr: ErrNotSofiaStatus},
		{name: "empty", body: "", wantErr: ErrNotSofiaStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.fixture != "" {
				body = fixture(t, tt.fixture)
			}
			got, err := ParseSofiaStatus(body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got err %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSofiaStatusProfile(t *testing.T) {
	s, err := ParseSofiaStatus(fixture(t, "sofia-status-1.10.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, lookup, wantName string
		wantOK                 bool
	}{
		{"by name", "external", "external", true},
		{"by alias", "192.0.2.10", "internal", true},
		{"absent", "wss", "", false},
		{"gateway is not a profile", "external::carrier1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := s.Profile(tt.lookup)
			if ok != tt.wantOK || p.Name != tt.wantName {
				t.Errorf("got %q %v, want %q %v", p.Name, ok, tt.wantName, tt.wantOK)
			}
		})
	}
}

func TestParseCallsCount(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		body    string
		want    int
		wantErr error
	}{
		{name: "documented form", fixture: "calls-count.txt", want: 3},
		{name: "zero", fixture: "calls-count-zero.txt", want: 0},
		{name: "no leading blank line", fixture: "calls-count-bare.txt", want: 17},
		{name: "CRLF", body: "\r\n42 total.\r\n", want: 42},
		{name: "command error", fixture: "err-command-not-found.txt", wantErr: ErrNotCallsCount},
		{name: "negative", body: "-3 total.\n", wantErr: ErrNotCallsCount},
		{name: "overflow", body: "99999999999999999999 total.\n", wantErr: ErrNotCallsCount},
		{name: "not a count", fixture: "status-1.10.txt", wantErr: ErrNotCallsCount},
		{name: "empty", body: "", wantErr: ErrNotCallsCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if tt.fixture != "" {
				body = fixture(t, tt.fixture)
			}
			got, err := ParseCallsCount(body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got err %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
