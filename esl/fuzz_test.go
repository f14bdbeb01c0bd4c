package esl

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/esl/esltest"
)

// addFixtures seeds a fuzz target with every fixture under testdata whose
// name starts with one of prefixes.
func addFixtures(f *testing.F, prefixes ...string) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		base := filepath.Base(n)
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(base, p) }) {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

func FuzzParseStatus(f *testing.F) {
	addFixtures(f, "status-", "err-")
	f.Fuzz(func(t *testing.T, body string) {
		s, err := ParseStatus(body)
		if err != nil {
			return
		}
		if !s.HasUptime && !s.HasReady {
			t.Errorf("accepted %q with neither uptime nor ready line", body)
		}
		if s.Uptime < 0 || s.Sessions < 0 || s.MaxSessions < 0 || s.SessionsSinceStartup < 0 {
			t.Errorf("negative numbers from %q: %+v", body, s)
		}
	})
}

func FuzzParseSofiaStatus(f *testing.F) {
	addFixtures(f, "sofia-", "err-")
	f.Fuzz(func(t *testing.T, body string) {
		s, err := ParseSofiaStatus(body)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range s.Profiles {
			if p.Name == "" || p.State == "" || p.InUse < 0 {
				t.Errorf("bad profile %+v from %q", p, body)
			}
			if seen[p.Name] {
				t.Errorf("profile %q listed twice from %q", p.Name, body)
			}
			seen[p.Name] = true
			if _, ok := s.Profile(p.Name); !ok {
				t.Errorf("Profile(%q) not found", p.Name)
			}
		}
	})
}

func FuzzParseCallsCount(f *testing.F) {
	addFixtures(f, "calls-", "err-")
	f.Fuzz(func(t *testing.T, body string) {
		n, err := ParseCallsCount(body)
		if err != nil {
			return
		}
		if n < 0 {
			t.Errorf("got %d from %q, want >= 0", n, body)
		}
		if m, err := ParseCallsCount(fmt.Sprintf("\n%d total.\n", n)); err != nil || m != n {
			t.Errorf("round trip of %d: got %d %v", n, m, err)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	for _, s := range []string{
		esltest.AuthRequest, esltest.AuthAccepted, esltest.AuthInvalid, esltest.DisconnectNotice,
		esltest.RudeRejection, esltest.Bye, esltest.CommandNotFound,
		esltest.AuthRequest + esltest.AuthAccepted + esltest.APIResponse("+OK\n"),
	} {
		f.Add([]byte(s))
	}
	names, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(esltest.APIResponse(string(b))))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), readBufSize)
		for range 8 { // a stream may hold several frames
			fr, err := readFrame(br)
			if err != nil {
				return
			}
			if cl := fr.Headers.Get("Content-Length"); cl != "" {
				if n, _ := strconv.Atoi(cl); n != len(fr.Body) {
					t.Fatalf("body of %d bytes for Content-Length %s", len(fr.Body), cl)
				}
			} else if len(fr.Body) != 0 {
				t.Fatalf("body without Content-Length")
			}
			// What was read re-encodes to a frame that reads back the same.
			var buf bytes.Buffer
			for k, vs := range fr.Headers {
				for _, v := range vs {
					fmt.Fprintf(&buf, "%s: %s\n", k, v)
				}
			}
			buf.WriteString("\n")
			buf.Write(fr.Body)
			again, err := readFrame(bufio.NewReaderSize(&buf, readBufSize))
			if err != nil {
				t.Fatalf("re-read of %q: %v", buf.Bytes(), err)
			}
			if !bytes.Equal(again.Body, fr.Body) || fmt.Sprint(again.Headers) != fmt.Sprint(fr.Headers) {
				t.Fatalf("re-read differs: %v %q vs %v %q", again.Headers, again.Body, fr.Headers, fr.Body)
			}
		}
	})
}
