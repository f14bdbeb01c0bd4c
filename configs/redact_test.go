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

// secretName matches the last part of keys that may hold a secret: each
// needs an entry in secretKeys (the *_file keys hold paths, not secrets).
var secretName = regexp.MustCompile(`password|secret|dsn|token|env|command|^url$|headers|^up$|^down$|^check$`)

// walkFields calls f with the key path (lists as key[]) and field of every
// key of t.
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

// TestSecretKeysListed: every key whose name says it may hold a secret is
// in secretKeys, and every entry there is a key holding strings, with a
// known kind: a new key cannot reach `config show` unredacted by being
// forgotten, nor a renamed one by a stale entry.
func TestSecretKeysListed(t *testing.T) {
	seen := map[string]bool{}
	walkFields(reflect.TypeFor[Config](), "", func(key string, fl field) {
		last := key[strings.LastIndex(key, ".")+1:]
		kind, listed := secretKeys[key]
		switch {
		case listed:
			seen[key] = true
			if _, ok := redactors[kind]; !ok {
				t.Errorf("%s: got kind %q, want one of the redactors", key, kind)
			}
			if fl.typ.Kind() != reflect.String && fl.typ != reflect.TypeFor[[]string]() {
				t.Errorf("%s: holds a %s, want a string or a list of strings", key, fl.typ)
			}
		case secretName.MatchString(last) && !strings.HasSuffix(last, "_file"):
			t.Errorf("%s: not in secretKeys, want it there: the key may hold a secret", key)
		}
	})
	for key := range secretKeys {
		if !seen[key] {
			t.Errorf("secretKeys lists %s, which is not a key", key)
		}
	}
}

// fillSecrets sets every secret key of v, an addressable struct whose keys
// start with prefix, to a marked value, giving every list one element so
// that its keys are reached.
func fillSecrets(v reflect.Value, prefix, mark string) {
	for _, fl := range fieldsOf(v.Type()) {
		key := prefix + fl.key
		fv := v.FieldByIndex(fl.index)
		kind, secret := secretKeys[key]
		switch {
		case secret && fl.typ.Kind() == reflect.String:
			val := mark
			switch kind {
			case "dsn", "anydsn":
				val = "postgres://u:" + mark + "@h/db?sslpassword=" + mark
			case "mysqldsn":
				val = "u:" + mark + "@tcp(h:3306)/db"
			case "url":
				val = "https://u:" + mark + "@h/" + mark + "?t=" + mark
			}
			fv.SetString(val)
		case secret:
			fv.Set(reflect.ValueOf([]string{"/bin/prog-" + fl.key, "X=" + mark, "Name: " + mark, mark}))
		case isList(fl.typ):
			fv.Set(reflect.MakeSlice(fl.typ, 1, 1))
			fillSecrets(fv.Index(0), key+"[].", mark)
		case isMapping(fl.typ):
			fillSecrets(fv, key+".", mark)
		}
	}
}

// TestRedactedHidesEverySecretKey: with a marked secret in every secret
// key, the marshalled Redacted config holds none, and the original keeps
// them all.
func TestRedactedHidesEverySecretKey(t *testing.T) {
	const mark = "S3CRET-MARK"
	var c Config
	fillSecrets(reflect.ValueOf(&c).Elem(), "", mark)
	raw, err := Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	n := strings.Count(string(raw), mark)
	if n < len(secretKeys) {
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
