package configs

import (
	"reflect"
	"strings"
	"testing"
)

// TestMarshalRoundTrip: what `pbxha config show` prints loads back into the
// same configuration.
func TestMarshalRoundTrip(t *testing.T) {
	cleanEnv(t)
	for _, path := range []string{"testdata/valid-full.yaml", "testdata/valid-minimal.yaml", "pbxha.example.yaml", "default.yaml"} {
		t.Run(path, func(t *testing.T) {
			c := mustLoad(t, path)
			out, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse("shown.yaml", out)
			if err != nil {
				t.Fatalf("shown config does not load: %v\n%s", err, out)
			}
			if got, want := plain(back), plain(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v\nfrom\n%s", got, want, out)
			}
		})
	}
}

func TestMarshalDurationsAsText(t *testing.T) {
	cleanEnv(t)
	out, err := Marshal(mustLoad(t, "testdata/valid-full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"interval: 1m0s\n", "timeout: 1.5s\n", "timeout: 5ms\n", "fresh_conn_every: 0s\n", `accept: "200"`, `password: "0123"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("got\n%s\nwant it to contain %q", out, want)
		}
	}
}

func TestRedacted(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, "testdata/valid-full.yaml")
	c.Probes.AMI[0].Secret = "s3cret"
	c.Database.PrimaryConninfo = "host=10.1.1.2 user=replicator password=pw"
	r := c.Redacted()
	if got, want := r.Database.PrimaryConninfo, "host=10.1.1.2 user=replicator password=REDACTED"; got != want {
		t.Errorf("got primary_conninfo %q, want %q", got, want)
	}
	if got := r.Probes.ESL[0].Password; got != Redacted {
		t.Errorf("got esl password %q, want %q", got, Redacted)
	}
	if got := r.Probes.AMI[0].Secret; got != Redacted {
		t.Errorf("got ami secret %q, want %q", got, Redacted)
	}
	if got, want := r.Probes.PG[0].DSN, "postgres://pbxha:REDACTED@127.0.0.1:5432/pbx?sslmode=disable"; got != want {
		t.Errorf("got dsn %q, want %q", got, want)
	}
	if c.Probes.ESL[0].Password != "0123" || c.Probes.AMI[0].Secret != "s3cret" || !strings.Contains(c.Probes.PG[0].DSN, "secret@") {
		t.Errorf("Redacted changed the original: %+v", c.Probes)
	}
	out, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"0123", "s3cret", ":secret@"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("redacted output contains %q:\n%s", secret, out)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"url with password", "postgres://u:pw@h:5432/db", "postgres://u:REDACTED@h:5432/db"},
		{"url without password", "postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?sslmode=disable"},
		{"url password parameter", "postgres://u@h/db?password=pw&sslmode=disable", "postgres://u@h/db?password=REDACTED&sslmode=disable"},
		{"key=value", "host=h user=u password=pw dbname=db", "host=h user=u password=REDACTED dbname=db"},
		{"key = 'quoted value'", "host=h password = 'p w\\'x' dbname=db", "host=h password = REDACTED dbname=db"},
		{"key=value without password", "host=h user=u", "host=h user=u"},
		{"unparsable url", "postgres://u:pw@h:port:x/%zz", "REDACTED"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactDSN(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRedactedAlertEndpoints(t *testing.T) {
	c := &Config{Alerts: Alerts{Endpoints: []Endpoint{{Name: "am", Secret: "hunter2", Headers: []string{"Authorization: Bearer tok"}}}}}
	r := c.Redacted()
	e := r.Alerts.Endpoints[0]
	if e.Secret != Redacted || e.Headers[0] != "Authorization: "+Redacted {
		t.Errorf("got %+v, want secret and header value redacted", e)
	}
	if c.Alerts.Endpoints[0].Secret != "hunter2" || c.Alerts.Endpoints[0].Headers[0] != "Authorization: Bearer tok" {
		t.Error("Redacted changed the original config")
	}
}
