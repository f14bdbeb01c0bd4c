package configs

import (
	"reflect"
	"strings"
	"time"
)

// field is one key of a config mapping, found from the struct's mapstructure
// tags. Embedded structs tagged ",squash" contribute their fields to the
// parent mapping, as viper and mapstructure do.
type field struct {
	key   string
	index []int
	typ   reflect.Type
}

// isDuration reports whether t is time.Duration, written as text like "2s".
func isDuration(t reflect.Type) bool { return t == reflect.TypeFor[time.Duration]() }

// fieldsOf lists the keys of struct type t in declaration order.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("mapstructure")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if opts == "squash" && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		if name == "" {
			continue // every config field is tagged; an untagged one is not a key
		}
		out = append(out, field{key: name, index: []int{i}, typ: sf.Type})
	}
	return out
}

// isList reports whether t is a list of mappings (the probe lists).
func isList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

// isMapping reports whether t is decoded from a YAML mapping.
func isMapping(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !isDuration(t)
}

// scalarKeys lists the key paths below prefix that hold a scalar or a list of
// strings, the keys that an environment variable can set. Lists of mappings
// are not descended into.
func scalarKeys(t reflect.Type, prefix string) []string {
	var out []string
	for _, f := range fieldsOf(t) {
		key := joinKey(prefix, f.key)
		switch {
		case isList(f.typ):
		case isMapping(f.typ):
			out = append(out, scalarKeys(f.typ, key)...)
		default:
			out = append(out, key)
		}
	}
	return out
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// envName is the environment variable that overrides a key path:
// probes.sip[0].tls.ca_file becomes PBXHA_PROBES_SIP_0_TLS_CA_FILE.
func envName(key string) string {
	r := strings.NewReplacer(".", "_", "[", "_", "]", "")
	return EnvPrefix + strings.ToUpper(r.Replace(key))
}

// EnvPrefix starts every environment variable that overrides a config key.
const EnvPrefix = "PBXHA_"
