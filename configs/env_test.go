package configs

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxha/pbxha/hooks"
)

const envBase = `log:
  level: warn
control:
  socket: /run/pbxha/file.sock
metrics:
  listen: 127.0.0.1:9464
probes:
  sip:
    - target: sip:127.0.0.1:5060;transport=tls
  esl:
    - password: x
`

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		got  func(*Config) any
		want any
	}{
		{"key absent from the file", map[string]string{"PBXHA_LOG_FORMAT": "json"}, func(c *Config) any { return c.Log.Format }, "json"},
		{"key in the file", map[string]string{"PBXHA_CONTROL_SOCKET": "/run/x.sock"}, func(c *Config) any { return c.Control.Socket }, "/run/x.sock"},
		{"section absent from the file", map[string]string{"PBXHA_NODE_NAME": "node-z"}, func(c *Config) any { return c.Node.Name }, "node-z"},
		{"key with underscore", map[string]string{"PBXHA_STATE_DIR": "/srv/ha"}, func(c *Config) any { return c.StateDir }, "/srv/ha"},
		{"whole number", map[string]string{"PBXHA_HISTORY": "20"}, func(c *Config) any { return c.History }, 20},
		{"empty value clears", map[string]string{"PBXHA_METRICS_LISTEN": ""}, func(c *Config) any { return c.Metrics.Listen }, ""},
		{"list element", map[string]string{"PBXHA_PROBES_SIP_0_TIMEOUT": "200ms"}, func(c *Config) any { return c.Probes.SIP[0].Timeout }, 200 * time.Millisecond},
		{"list element key absent", map[string]string{"PBXHA_PROBES_SIP_0_RISE": "5"}, func(c *Config) any { return c.Probes.SIP[0].Rise }, 5},
		{"list element bool", map[string]string{"PBXHA_PROBES_SIP_0_CRITICAL": "false"}, func(c *Config) any { return c.Probes.SIP[0].Critical }, false},
		{"list element nested", map[string]string{"PBXHA_PROBES_SIP_0_TLS_SERVER_NAME": "pbx.example.com"}, func(c *Config) any { return c.Probes.SIP[0].TLS.ServerName }, "pbx.example.com"},
		{"list element strings", map[string]string{"PBXHA_PROBES_ESL_0_PROFILES": "internal, external"}, func(c *Config) any { return c.Probes.ESL[0].Profiles }, []string{"internal", "external"}},
		{"list element float", map[string]string{"PBXHA_PROBES_ESL_0_MAX_SESSIONS_SHARE": "0.75"}, func(c *Config) any { return c.Probes.ESL[0].MaxSessionsShare }, 0.75},
		{"secret", map[string]string{"PBXHA_PROBES_ESL_0_PASSWORD": "0123"}, func(c *Config) any { return c.Probes.ESL[0].Password }, "0123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := Parse("env.yaml", []byte(envBase))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			var names []string
			for k := range tt.env {
				names = append(names, k)
			}
			slices.Sort(names)
			if !slices.Equal(c.Env, names) {
				t.Errorf("got Env %v, want %v", c.Env, names)
			}
		})
	}
}

func TestEnvProblems(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"typo in a section key", map[string]string{"PBXHA_LOG_FROMAT": "json"},
			[]string{"env PBXHA_LOG_FROMAT: names no config key; see `pbxha config default` for the keys (write PBXHA_SECTION_KEY, or PBXHA_PROBES_KIND_INDEX_KEY for a probe)"}},
		{"typo in a probe key", map[string]string{"PBXHA_PROBES_SIP_0_TIMOUT": "1s"},
			[]string{"env PBXHA_PROBES_SIP_0_TIMOUT: names no config key; see `pbxha config default` for the keys (write PBXHA_SECTION_KEY, or PBXHA_PROBES_KIND_INDEX_KEY for a probe)"}},
		{"index with a leading zero", map[string]string{"PBXHA_PROBES_SIP_00_TIMEOUT": "1s"},
			[]string{"env PBXHA_PROBES_SIP_00_TIMEOUT: names no config key; see `pbxha config default` for the keys (write PBXHA_SECTION_KEY, or PBXHA_PROBES_KIND_INDEX_KEY for a probe)"}},
		{"a section, not a key", map[string]string{"PBXHA_LOG": "x"},
			[]string{"env PBXHA_LOG: names no config key; see `pbxha config default` for the keys (write PBXHA_SECTION_KEY, or PBXHA_PROBES_KIND_INDEX_KEY for a probe)"}},
		{"element that does not exist", map[string]string{"PBXHA_PROBES_SIP_1_TIMEOUT": "1s"},
			[]string{"env PBXHA_PROBES_SIP_1_TIMEOUT: probes.sip[1] does not exist: the config has 1 sip probe(s); an environment variable can only override a probe that the file defines"}},
		{"kind absent from the file", map[string]string{"PBXHA_PROBES_TCP_0_ADDRESS": "127.0.0.1:1"},
			[]string{"env PBXHA_PROBES_TCP_0_ADDRESS: probes.tcp[0] does not exist: the config has 0 tcp probe(s); an environment variable can only override a probe that the file defines"}},
		{"bare number for a duration", map[string]string{"PBXHA_PROBES_SIP_0_TIMEOUT": "5"},
			[]string{`env PBXHA_PROBES_SIP_0_TIMEOUT: probes.sip[0].timeout: 5 is not a duration; write it with a unit, e.g. "5s"`}},
		{"not a number", map[string]string{"PBXHA_HISTORY": "lots"},
			[]string{`env PBXHA_HISTORY: history: "lots" is not a whole number`}},
		{"not a bool", map[string]string{"PBXHA_PROBES_SIP_0_CRITICAL": "yes"},
			[]string{`env PBXHA_PROBES_SIP_0_CRITICAL: probes.sip[0].critical: "yes" is not true or false`}},
		{"invalid value is blamed on the variable", map[string]string{"PBXHA_PROBES_SIP_0_TIMEOUT": "2s", "PBXHA_LOG_FORMAT": "xml"},
			[]string{`env PBXHA_LOG_FORMAT: log.format: "xml" must be one of text, json`,
				"env PBXHA_PROBES_SIP_0_TIMEOUT: probes.sip[0].timeout: 2s must not be longer than interval 200ms (the default)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := Parse("env.yaml", []byte(envBase))
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestEnvNamesUnique: no two keys may map to the same variable (state_dir
// and a hypothetical state.dir would), or an override would be ambiguous.
func TestEnvNamesUnique(t *testing.T) {
	seen := map[string]string{}
	add := func(key string) {
		name := envName(key)
		if other, dup := seen[name]; dup {
			t.Errorf("keys %s and %s both map to %s", other, key, name)
		}
		seen[name] = key
	}
	for _, k := range scalarKeys(reflect.TypeFor[Config](), "") {
		add(k)
	}
	for _, f := range fieldsOf(reflect.TypeFor[Probes]()) {
		for _, k := range scalarKeys(f.typ.Elem(), "probes."+f.key+"[0]") {
			add(k)
		}
	}
	if len(seen) < 40 {
		t.Errorf("got %d variable names, want the whole schema (40 or more)", len(seen))
	}
	if got, want := envName("probes.sip[0].tls.ca_file"), "PBXHA_PROBES_SIP_0_TLS_CA_FILE"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEnvOverridesAlertEndpoint(t *testing.T) {
	t.Setenv("PBXHA_ALERTS_ENDPOINTS_0_MIN_SEVERITY", "critical")
	t.Setenv("PBXHA_ALERTS_MAX_AGE", "1h")
	cfg, err := Load("testdata/valid-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Alerts.Endpoints[0]
	if e.Name != "endpoint" || e.MinSeverity != "critical" || e.Timeout != DefaultEndpoint().Timeout || cfg.Alerts.MaxAge != time.Hour {
		t.Errorf("got endpoint %+v, max_age %s; want name endpoint, min_severity critical from env, default timeout, max_age 1h", e, cfg.Alerts.MaxAge)
	}
	t.Setenv("PBXHA_ALERTS_ENDPOINTS_1_URL", "https://x.example.com/")
	if _, err := Load("testdata/valid-alerts.yaml"); err == nil || !strings.Contains(err.Error(), "alerts.endpoints[1] does not exist") {
		t.Errorf("got %v, want an error naming the missing endpoint", err)
	}
}

// pairBase is a minimal valid pair config: the fence keys need peer.paths.
const pairBase = `probes:
  sip:
    - target: sip:127.0.0.1:5060
peer:
  paths: [{local: "10.1.1.1:7946", peer: "10.1.1.2:7946"}]
failover:
  tie_breakers: ["10.1.1.254:53"]
`

// TestEnvFence sets the fence command, an argv list, from the environment:
// comma-separated, each item trimmed, and an empty program blamed on the
// variable.
func TestEnvFence(t *testing.T) {
	cleanEnv(t)
	t.Setenv("PBXHA_FAILOVER_FENCE_COMMAND", "/bin/a,b")
	t.Setenv("PBXHA_FAILOVER_FENCE_TIMEOUT", "5s")
	c, err := Parse("pair.yaml", []byte(pairBase))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Failover.FenceCommand, []string{"/bin/a", "b"}; !slices.Equal(got, want) {
		t.Errorf("fence_command: got %q, want %q", got, want)
	}
	if got := c.Failover.FenceTimeout; got != 5*time.Second {
		t.Errorf("fence_timeout: got %s, want 5s", got)
	}

	t.Setenv("PBXHA_FAILOVER_FENCE_COMMAND", ",b")
	_, err = Parse("pair.yaml", []byte(pairBase))
	want := "env PBXHA_FAILOVER_FENCE_COMMAND: failover.fence_command[0]: is empty: give the program (an absolute path or a name in PATH) and its arguments as a list"
	if err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}

// TestHookVariablesAreNotOverrides: inside a hook every variable pbxha sets
// for the commands it runs is present, and loading the config must neither
// apply nor refuse any of them; and no key's override has a reserved name.
func TestHookVariablesAreNotOverrides(t *testing.T) {
	cleanEnv(t)
	for _, name := range hooks.Reserved() {
		t.Setenv(name, "from-a-hook")
	}
	c, err := Parse("env.yaml", []byte(envBase))
	if err != nil {
		t.Fatalf("with the hook variables set: %v", err)
	}
	if len(c.Env) != 0 {
		t.Errorf("got overrides %v, want none", c.Env)
	}
	for _, key := range scalarKeys(reflect.TypeFor[Config](), "") {
		if hooks.IsReserved(envName(key)) {
			t.Errorf("key %s: its override %s is a reserved hook variable", key, envName(key))
		}
	}
	// A PBXHA_ variable that is neither a key nor reserved is still refused.
	t.Setenv("PBXHA_LOG_FROMAT", "json")
	if _, err := Parse("env.yaml", []byte(envBase)); err == nil || !strings.Contains(err.Error(), "PBXHA_LOG_FROMAT") {
		t.Errorf("got %v, want PBXHA_LOG_FROMAT refused", err)
	}
}
