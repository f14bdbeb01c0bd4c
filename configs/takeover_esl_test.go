package configs

import (
	"slices"
	"testing"
	"time"
)

// TestTakeoverESL checks pbx.takeover_esl and its timeout: off by default,
// accepted on a pair with an esl probe, and each rule's problem on its own.
func TestTakeoverESL(t *testing.T) {
	cleanEnv(t)
	const esl = `  esl:
    - password: ClueCon
`
	tests := []struct {
		name string
		yaml string
		want string // the problems; empty: valid
	}{
		{name: "pair with esl probe", yaml: pairWithESL + "pbx:\n  takeover_esl: [sofia recover, reloadxml]\n  takeover_esl_timeout: 30s\n"},
		{name: "off by default", yaml: pairBase},
		{
			name: "not a pair",
			yaml: "probes:\n  sip:\n    - target: sip:127.0.0.1:5060\n" + esl + "pbx:\n  takeover_esl: [sofia recover]\n",
			want: "t.yaml: pbx.takeover_esl: is set but peer.paths is not: the commands are sent when a node of a pair takes over",
		},
		{
			name: "no esl probe",
			yaml: pairBase + "pbx:\n  takeover_esl: [sofia recover]\n",
			want: "t.yaml: pbx.takeover_esl: needs an esl probe (probes.esl): the commands go to the first one's address with its password",
		},
		{
			name: "empty command",
			yaml: pairWithESL + "pbx:\n  takeover_esl: [sofia recover, \"\"]\n",
			want: `t.yaml: pbx.takeover_esl[1]: is empty: give a FreeSWITCH API command, e.g. "sofia recover"`,
		},
		{
			name: "two lines",
			yaml: pairWithESL + "pbx:\n  takeover_esl: [\"sofia recover\\r\\nreloadxml\"]\n",
			want: `t.yaml: pbx.takeover_esl[0]: "sofia recover\r\nreloadxml" spans several lines: give one command per list item`,
		},
		{
			name: "negative timeout",
			yaml: pairBase + "pbx:\n  takeover_esl_timeout: -1s\n",
			want: "t.yaml: pbx.takeover_esl_timeout: -1s must be positive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want a valid config", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("got error %v, want %q", err, tt.want)
			case err != nil:
				return
			}
			if got := c.PBX.TakeoverESLTimeout; got <= 0 {
				t.Errorf("takeover_esl_timeout: got %s, want positive", got)
			}
		})
	}
}

// pairWithESL is pairBase with an esl probe for the takeover commands.
const pairWithESL = `probes:
  sip:
    - target: sip:127.0.0.1:5060
  esl:
    - password: ClueCon
peer:
  paths: [{local: "10.1.1.1:7946", peer: "10.1.1.2:7946"}]
failover:
  tie_breakers: ["10.1.1.254:53"]
`

// TestTakeoverESLDefaults: no commands, 15s, and the environment sets the
// list comma-separated (commands contain spaces, not commas).
func TestTakeoverESLDefaults(t *testing.T) {
	cleanEnv(t)
	c, err := Parse("pair.yaml", []byte(pairBase))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PBX.TakeoverESL) != 0 || c.PBX.TakeoverESLTimeout != 15*time.Second {
		t.Errorf("got takeover_esl %q, timeout %s; want none, 15s", c.PBX.TakeoverESL, c.PBX.TakeoverESLTimeout)
	}
	t.Setenv("PBXHA_PBX_TAKEOVER_ESL", "sofia recover, reloadxml")
	t.Setenv("PBXHA_PBX_TAKEOVER_ESL_TIMEOUT", "40s")
	c, err = Parse("pair.yaml", []byte(pairWithESL))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.PBX.TakeoverESL, []string{"sofia recover", "reloadxml"}; !slices.Equal(got, want) {
		t.Errorf("takeover_esl from env: got %q, want %q", got, want)
	}
	if got := c.PBX.TakeoverESLTimeout; got != 40*time.Second {
		t.Errorf("takeover_esl_timeout from env: got %s, want 40s", got)
	}
}
