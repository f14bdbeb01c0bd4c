package ami

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadMessageFixtures(t *testing.T) {
	tests := []struct {
		file string
		want map[string]string // a subset of the fields, by exact key
		n    int               // number of fields
	}{
		{"login_success.txt", map[string]string{"Response": "Success", "ActionID": "pbxha-1", "Message": "Authentication accepted"}, 3},
		{"login_failed.txt", map[string]string{"Response": "Error", "Message": "Authentication failed"}, 3},
		{"ping.txt", map[string]string{"Response": "Success", "Ping": "Pong", "Timestamp": "1700000000.123456"}, 4},
		{"ping_asterisk14.txt", map[string]string{"Response": "Pong", "ActionID": "pbxha-2"}, 2},
		{"corestatus.txt", map[string]string{"CoreStartupDate": "2023-11-14", "CoreReloadTime": "21:00:00", "CoreCurrentCalls": "4"}, 7},
		{"corestatus_asterisk22.txt", map[string]string{"CoreProcessedCalls": "1234"}, 8},
		{"corestatus_asterisk16.txt", map[string]string{"CoreStartupTime": "19:13:20", "CoreCurrentCalls": "4"}, 5},
		{"coresettings.txt", map[string]string{"AMIversion": "9.0.0", "AsteriskVersion": "20.5.0", "SystemName": ""}, 13},
		{"unknown_action.txt", map[string]string{"Message": "Invalid/unknown command: Bogus. Use Action: ListCommands to show available commands."}, 3},
		{"permission_denied.txt", map[string]string{"Message": "Permission denied"}, 3},
		{"event_fullybooted.txt", map[string]string{"Event": "FullyBooted", "Status": "Fully Booted"}, 5},
		{"event_devicestate.txt", map[string]string{"Event": "DeviceStateChange", "Device": "PJSIP/1001"}, 4},
		{"logoff.txt", map[string]string{"Response": "Goodbye", "Message": "Thanks for all the fish."}, 3},
		{"action_login.txt", map[string]string{"Action": "Login", "Username": "pbxha", "Events": "off"}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(string(readFixture(t, tt.file))))
			m, err := ReadMessage(r)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(m.Fields) != tt.n {
				t.Errorf("got %d fields, want %d: %v", len(m.Fields), tt.n, m.Fields)
			}
			for k, v := range tt.want {
				if got, ok := m.Lookup(k); !ok || got != v {
					t.Errorf("field %s: got %q (present %v), want %q", k, got, ok, v)
				}
			}
			if _, err := ReadMessage(r); !errors.Is(err, io.EOF) {
				t.Errorf("after the message: got %v, want io.EOF", err)
			}
		})
	}
}

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Field
		wantErr error // nil: no error
	}{
		{"crlf", "Response: Success\r\nPing: Pong\r\n\r\n", []Field{{"Response", "Success"}, {"Ping", "Pong"}}, nil},
		{"bare lf", "Response: Success\nPing: Pong\n\n", []Field{{"Response", "Success"}, {"Ping", "Pong"}}, nil},
		{"leading blank lines skipped", "\r\n\r\nEvent: X\r\n\r\n", []Field{{"Event", "X"}}, nil},
		{"value keeps colons", "Message: Invalid/unknown command: Bogus.\r\n\r\n", []Field{{"Message", "Invalid/unknown command: Bogus."}}, nil},
		{"no space after colon", "Key:Value\r\n\r\n", []Field{{"Key", "Value"}}, nil},
		{"empty value", "SystemName: \r\n\r\n", []Field{{"SystemName", ""}}, nil},
		{"repeated key kept", "Variable: a=1\r\nVariable: b=2\r\n\r\n", []Field{{"Variable", "a=1"}, {"Variable", "b=2"}}, nil},
		{"utf-8 value", "CallerIDName: Zoë\r\n\r\n", []Field{{"CallerIDName", "Zoë"}}, nil},
		{"empty input", "", nil, io.EOF},
		{"cut inside message", "Response: Success\r\n", nil, io.ErrUnexpectedEOF},
		{"cut inside line", "Response: Succ", nil, io.ErrUnexpectedEOF},
		{"line without colon", "HTTP/1.1 400 Bad Request\r\n\r\n", nil, ErrProtocol},
		{"empty key", ": value\r\n\r\n", nil, ErrProtocol},
		{"control byte", "Key: a\x00b\r\n\r\n", nil, ErrProtocol},
		{"tls hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", nil, ErrProtocol},
		{"line too long", "Key: " + strings.Repeat("x", maxLineBytes) + "\r\n\r\n", nil, ErrProtocol},
		{"too many fields", strings.Repeat("K: v\r\n", maxFields+1) + "\r\n", nil, ErrProtocol},
		{"too many blank lines", strings.Repeat("\r\n", maxBlankLines+1) + "K: v\r\n\r\n", nil, ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ReadMessage(bufio.NewReaderSize(strings.NewReader(tt.in), 64))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(m.Fields, tt.want) {
				t.Errorf("got %q, want %q", m.Fields, tt.want)
			}
		})
	}
}

func TestReadMessageSequence(t *testing.T) {
	in := string(readFixture(t, "event_devicestate.txt")) + string(readFixture(t, "ping.txt")) + string(readFixture(t, "logoff.txt"))
	r := bufio.NewReader(strings.NewReader(in))
	var got []string
	for range 10 {
		m, err := ReadMessage(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("got error %v, want none", err)
		}
		got = append(got, m.Get("event")+m.Get("response"))
	}
	want := []string{"DeviceStateChange", "Success", "Goodbye"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAppendEncode(t *testing.T) {
	tests := []struct {
		name    string
		m       Message
		want    string
		wantErr bool
	}{
		{"login", Message{Fields: []Field{{"Action", "Login"}, {"ActionID", "pbxha-1"}, {"Username", "pbxha"}, {"Secret", "secret"}, {"Events", "off"}}},
			"Action: Login\r\nActionID: pbxha-1\r\nUsername: pbxha\r\nSecret: secret\r\nEvents: off\r\n\r\n", false},
		{"empty value", Message{Fields: []Field{{"SystemName", ""}}}, "SystemName: \r\n\r\n", false},
		{"no fields", Message{}, "", true},
		{"crlf in value injects a field", Message{Fields: []Field{{"Secret", "x\r\nAction: Originate"}}}, "", true},
		{"colon in key", Message{Fields: []Field{{"A:B", "x"}}}, "", true},
		{"empty key", Message{Fields: []Field{{"", "x"}}}, "", true},
		{"padded key", Message{Fields: []Field{{" Key", "x"}}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.m.AppendEncode(nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if string(b) != tt.want && !tt.wantErr {
				t.Errorf("got %q, want %q", b, tt.want)
			}
		})
	}
	if got, want := string(readFixture(t, "action_login.txt")), tests[0].want; got != want {
		t.Errorf("fixture action_login.txt: got %q, want %q", got, want)
	}
}

// FuzzReadMessage feeds arbitrary bytes to the parser: it must never panic,
// and every message it accepts must encode and parse back to the same fields.
func FuzzReadMessage(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Key:\tvalue \r\n\n"))
	f.Add([]byte("\r\n\r\nA: b\nC: d\r\n\r\nE: f\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 16)
		for range 100 {
			m, err := ReadMessage(r)
			if err != nil {
				return
			}
			if len(m.Fields) == 0 {
				t.Fatalf("accepted a message without fields from %q", in)
			}
			b, err := m.AppendEncode(nil)
			if err != nil {
				t.Fatalf("accepted %q but cannot encode it: %v", m.Fields, err)
			}
			back, err := ReadMessage(bufio.NewReader(strings.NewReader(string(b))))
			if err != nil {
				t.Fatalf("encoded %q does not parse: %v", b, err)
			}
			if !reflect.DeepEqual(back.Fields, m.Fields) {
				t.Fatalf("round trip: got %q, want %q", back.Fields, m.Fields)
			}
		}
	})
}
