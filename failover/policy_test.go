package failover

import "testing"

func TestParsePolicyWords(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", FailoverFirst, false},
		{"failover_first", FailoverFirst, false},
		{"restart_first", RestartFirst, false},
		{"restart-first", 0, true},
	} {
		got, err := ParseMode(tc.in)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("ParseMode(%q): got %v, %v, want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil && tc.in != "" && got.String() != tc.in {
			t.Errorf("got %q back from %q, want the same spelling", got.String(), tc.in)
		}
	}
	for _, tc := range []struct {
		in      string
		want    Failback
		wantErr bool
	}{
		{"", FailbackOff, false},
		{"off", FailbackOff, false},
		{"auto", FailbackAuto, false},
		{"on", 0, true},
	} {
		got, err := ParseFailback(tc.in)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("ParseFailback(%q): got %v, %v, want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{RoleInit.String(), "init"}, {RolePrimary.String(), "primary"}, {RoleStandby.String(), "standby"},
		{RoleFault.String(), "fault"}, {RoleMaintenance.String(), "maintenance"}, {Role(42).String(), "role(42)"},
		{DBNone.String(), "none"}, {DBPrimary.String(), "primary"}, {DBStandby.String(), "standby"}, {DBUnknown.String(), "unknown"},
		{ActionNone.String(), "none"}, {ActionTakeOver.String(), "take_over"}, {ActionRelease.String(), "release"},
		{ActionRestartPBX.String(), "restart_pbx"}, {ActionFencePeer.String(), "fence_peer"}, {ActionReAnnounce.String(), "re_announce"},
		{FenceUnknown.String(), "unknown"}, {FenceOK.String(), "ok"}, {FenceFailed.String(), "failed"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
