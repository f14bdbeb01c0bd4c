package configs

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestRedactors(t *testing.T) {
	tests := []struct {
		name string
		f    func(string) string
		in   string
		want string
	}{
		{"dsn sslpassword", RedactDSN, "host=h sslpassword=kp password=pw", "host=h sslpassword=REDACTED password=REDACTED"},
		{"dsn url sslpassword", RedactDSN, "postgres://u@h/db?sslpassword=kp&sslmode=verify-full", "postgres://u@h/db?sslmode=verify-full&sslpassword=REDACTED"},
		{"url token in path and query", RedactURL, "https://hooks.example.com/services/T0/B0/XXXX?token=abc#frag", "https://hooks.example.com/REDACTED?REDACTED"},
		{"url user info", RedactURL, "https://ops:pw@alerts.example.com:8443/", "https://ops:REDACTED@alerts.example.com:8443/"},
		{"url plain", RedactURL, "http://127.0.0.1:9093", "http://127.0.0.1:9093"},
		{"url unparsable", RedactURL, "http://[::1/%zz", "REDACTED"},
		{"url without host", RedactURL, "mailto:ops@example.com?secret", "REDACTED"},
		{"header", RedactHeader, "Authorization: Bearer tok", "Authorization: REDACTED"},
		{"header without colon", RedactHeader, "Authorization Bearer tok", "REDACTED"},
		{"env", RedactEnv, "PGPASSWORD=pw", "PGPASSWORD=REDACTED"},
		{"env conninfo", RedactEnv, "PRIMARY_CONNINFO=host=x password=pw", "PRIMARY_CONNINFO=REDACTED"},
		{"env without =", RedactEnv, "PGPASSWORD:pw", "REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := RedactArgv([]string{"/usr/sbin/fence_ipmilan", "-a", "10.0.0.9", "-p", "pw"}); !reflect.DeepEqual(got, []string{"/usr/sbin/fence_ipmilan", Redacted, Redacted, Redacted, Redacted}) {
		t.Errorf("got argv %q, want the program and every argument redacted", got)
	}
}

// secretKey names keys that may hold a secret: each needs a secret tag
// (the *_file keys hold paths, not secrets).
var secretKey = regexp.MustCompile(`password|secret|dsn|token|env|command|^url$|headers|^up$|^down$|^check$`)

// walkFields calls f with the key path and field of every key of t.
func walkFields(t reflect.Type, prefix string, f func(key string, fl field)) {
	for _, fl := range fieldsOf(t) {
		key := prefix + fl.key
		f(key, fl)
		switch {
		case isList(fl.typ):
			walkFields(fl.typ.Elem(), key+"[].", f)
		case isMapping(fl.typ):
			walkFields(fl.typ, key+".", f)
		}
	}
}

// TestSecretFieldsTagged: every key whose name says it may hold a secret
// has a secret tag of a known kind, so that a new key cannot reach `config
// show` unredacted by being forgotten.
func TestSecretFieldsTagged(t *testing.T) {
	walkFields(reflect.TypeFor[Config](), "", func(key string, fl field) {
		last := key[strings.LastIndex(key, ".")+1:]
		if fl.secret != "" {
			if _, ok := redactors[fl.secret]; !ok {
				t.Errorf("%s: got secret tag %q, want one of the redactors", key, fl.secret)
			}
			return
		}
		if secretKey.MatchString(last) && !strings.HasSuffix(last, "_file") {
			t.Errorf("%s: got no secret tag, want one: the key may hold a secret", key)
		}
	})
}

// fillSecrets sets every secret-tagged string of v, an addressable struct,
// to a marked value, giving every list one element so that its fields are
// reached.
func fillSecrets(v reflect.Value, mark string) {
	for _, fl := range fieldsOf(v.Type()) {
		fv := v.FieldByIndex(fl.index)
		switch {
		case fl.secret != "" && fl.typ.Kind() == reflect.String:
			val := mark
			switch fl.secret {
			case "dsn":
				val = "postgres://u:" + mark + "@h/db?sslpassword=" + mark
			case "url":
				val = "https://u:" + mark + "@h/" + mark + "?t=" + mark
			}
			fv.SetString(val)
		case fl.secret != "":
			fv.Set(reflect.ValueOf([]string{"/bin/prog-" + strings.ToLower(fl.key), "X=" + mark, "Name: " + mark, mark}))
		case isList(fl.typ):
			fv.Set(reflect.MakeSlice(fl.typ, 1, 1))
			fillSecrets(fv.Index(0), mark)
		case isMapping(fl.typ):
			fillSecrets(fv, mark)
		}
	}
}

// TestRedactedHidesEveryTaggedField: with a marked secret in every
// secret-tagged field, the marshalled Redacted config holds none, and the
// original keeps them all.
func TestRedactedHidesEveryTaggedField(t *testing.T) {
	const mark = "S3CRET-MARK"
	var c Config
	fillSecrets(reflect.ValueOf(&c).Elem(), mark)
	raw, err := Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(raw), mark)
	if n < 20 {
		t.Fatalf("got %d marks in the unredacted config, want one in every secret field", n)
	}
	out, err := Marshal(c.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), mark) {
		t.Errorf("redacted config shows a secret:\n%s", out)
	}
	if again, _ := Marshal(&c); string(again) != string(raw) {
		t.Error("Redacted changed the original config")
	}
	if !strings.Contains(string(out), "/bin/prog-fence_command") {
		t.Errorf("redacted config lost a command's program:\n%s", out)
	}
}
