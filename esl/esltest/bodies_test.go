package esltest_test

import (
	"os"
	"testing"
	"time"

	"github.com/pbxha/pbxha/esl"
	"github.com/pbxha/pbxha/esl/esltest"
)

// TestBodiesParse: the rendered bodies read back through the esl parsers
// as what they were rendered from, and the count matches FreeSWITCH's
// bytes (esl/testdata/calls-count.txt).
func TestBodiesParse(t *testing.T) {
	up := 5*time.Minute + 12*time.Second + 34*time.Millisecond + 56*time.Microsecond
	st, err := esl.ParseStatus(esltest.StatusBody(up, 3, 5, 12))
	if err != nil {
		t.Fatal(err)
	}
	if st.Uptime != up || st.Sessions != 3 || st.SessionsPeak != 5 || st.SessionsSinceStartup != 12 || !st.Ready {
		t.Errorf("status: got %+v, want up %s, 3 sessions, peak 5, 12 since startup, ready", st, up)
	}
	sofia, err := esl.ParseSofiaStatus(esltest.SofiaStatusBody("192.0.2.10:5060", 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(sofia.Profiles) != 1 || sofia.Profiles[0].State != esl.StateRunning || sofia.Profiles[0].InUse != 2 {
		t.Errorf("sofia status: got %+v, want one running profile with 2 in use", sofia.Profiles)
	}
	want, err := os.ReadFile("../testdata/calls-count.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := esltest.CountBody(3); got != string(want) {
		t.Errorf("CountBody(3): got %q, want %q", got, want)
	}
	for _, n := range []int{0, 1, 40} {
		if got, err := esl.ParseCallsCount(esltest.CountBody(n)); err != nil || got != n {
			t.Errorf("ParseCallsCount(CountBody(%d)): got %d, %v", n, got, err)
		}
	}
}
