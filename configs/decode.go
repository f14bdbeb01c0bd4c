package configs

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pbxha/pbxha/probe"
)

// envValue is a setting that came from an environment variable: raw text to
// be parsed according to the type of the key it overrides.
type envValue struct {
	name string // PBXHA_...
	raw  string
}

// decoder turns the settings viper read (YAML values and envValues) into a
// Config, strictly: unknown keys, wrong types and bare numbers for durations
// are problems, not silent conversions. Keys missing from the settings keep
// the defaults already in the target.
type decoder struct {
	file    string            // source name of values that came from the file
	ps      *problems         // where problems go
	origins map[string]string // key path -> source name of the value set there; absent = default
	fast    bool              // failover.profile fast: its sip probe defaults
}

// acceptsNumber reports whether a text key also takes a bare YAML number,
// because a single SIP status code such as `accept: 200` reads naturally
// unquoted. Other text keys refuse numbers: YAML would have rewritten a
// password like 0123 to 83.
func acceptsNumber(name string) bool { return name == "accept" || name == "degraded" }

// mapping decodes a YAML mapping into the struct v (addressable).
func (d *decoder) mapping(path string, data any, v reflect.Value) {
	if data == nil {
		return
	}
	m, ok := data.(map[string]any)
	if !ok {
		d.typeProblem(path, data, "must be a mapping of keys to values")
		return
	}
	fields := fieldsOf(v.Type())
	known := make([]string, 0, len(fields))
	for _, f := range fields {
		known = append(known, f.key)
		val, ok := m[f.key]
		if !ok {
			continue
		}
		key := joinKey(path, f.key)
		fv := v.FieldByIndex(f.index)
		switch {
		case isList(f.typ):
			d.list(key, f.key, val, fv)
		case isMapping(f.typ):
			d.mapping(key, val, fv)
		default:
			d.scalar(key, f.key, val, fv)
		}
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		msg := "unknown key"
		if s := suggest(k, known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else if path == "probes" {
			msg = "unknown probe kind; the kinds are " + strings.Join(known, ", ")
		}
		d.ps.add(d.sourceOf(m[k]), joinKey(path, k), "%s", msg)
	}
}

// list decodes probes.<kind>: a YAML list of mappings, each starting from the
// kind's defaults.
func (d *decoder) list(path, kind string, data any, v reflect.Value) {
	if data == nil {
		return
	}
	items, ok := data.([]any)
	if !ok {
		d.typeProblem(path, data, `must be a list of probes; start each entry with "- "`)
		return
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	def := reflect.ValueOf(defaultProbe(kind))
	if d.fast && kind == string(probe.KindSIP) {
		def = reflect.ValueOf(fastSIP())
	}
	for i, item := range items {
		key := fmt.Sprintf("%s[%d]", path, i)
		ev := out.Index(i)
		if def.IsValid() && def.Type() == ev.Type() {
			ev.Set(def)
		}
		d.mapping(key, item, ev)
		name := ev.FieldByName("Name")
		if _, set := d.origins[key+".name"]; !set && name.IsValid() && name.Kind() == reflect.String {
			name.SetString(defaultName(kind, i, len(items)))
		}
	}
	v.Set(out)
}

// scalar decodes one value that is not a mapping: a string, number, bool,
// duration or list of strings.
func (d *decoder) scalar(key, name string, data any, v reflect.Value) {
	if ev, ok := data.(envValue); ok {
		d.fromEnv(key, ev, v)
		return
	}
	if data == nil {
		return // `key:` with no value keeps the default
	}
	ok := false
	switch {
	case isDuration(v.Type()):
		ok = d.duration(key, data, v)
	case v.Kind() == reflect.String:
		switch x := data.(type) {
		case string:
			v.SetString(x)
			ok = true
		case int:
			if acceptsNumber(name) {
				v.SetString(strconv.Itoa(x))
				ok = true
				break
			}
			d.ps.add(d.file, key, "must be text, got a number; put the value in quotes")
			return
		default:
			d.typeProblem(key, data, "must be text")
			return
		}
	case v.Kind() == reflect.Int:
		switch x := data.(type) {
		case int:
			v.SetInt(int64(x))
			ok = true
		case float64:
			d.ps.add(d.file, key, "must be a whole number, got %v", x)
			return
		default:
			d.typeProblem(key, data, "must be a whole number")
			return
		}
	case v.Kind() == reflect.Float64:
		switch x := data.(type) {
		case int:
			v.SetFloat(float64(x))
			ok = true
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				d.ps.add(d.file, key, "must be a finite number, got %v", x)
				return
			}
			v.SetFloat(x)
			ok = true
		default:
			d.typeProblem(key, data, "must be a number")
			return
		}
	case v.Kind() == reflect.Bool:
		x, isBool := data.(bool)
		if !isBool {
			d.typeProblem(key, data, "must be true or false")
			return
		}
		v.SetBool(x)
		ok = true
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		ok = d.strings(key, data, v)
	default:
		panic(fmt.Sprintf("configs: key %s has type %s, which the decoder does not handle", key, v.Type()))
	}
	if ok {
		d.origins[key] = d.file
	}
}

func (d *decoder) duration(key string, data any, v reflect.Value) bool {
	switch x := data.(type) {
	case string:
		dur, err := time.ParseDuration(x)
		if err != nil {
			d.ps.add(d.file, key, "%s", durationMsg(x))
			return false
		}
		v.SetInt(int64(dur))
		return true
	case int, float64, uint64:
		d.ps.add(d.file, key, "%v is not a duration; write it with a unit, e.g. \"%vs\"", x, x)
	default:
		d.typeProblem(key, data, `must be a duration such as "500ms" or "2s"`)
	}
	return false
}

func durationMsg(s string) string {
	if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		return fmt.Sprintf("%s is not a duration; write it with a unit, e.g. \"%ss\"", s, strings.TrimSpace(s))
	}
	return fmt.Sprintf(`%q is not a duration; write a number with a unit, e.g. "500ms" or "2s"`, s)
}

func (d *decoder) strings(key string, data any, v reflect.Value) bool {
	items, ok := data.([]any)
	if !ok {
		d.typeProblem(key, data, `must be a list such as ["a", "b"]`)
		return false
	}
	out := make([]string, len(items))
	good := true
	for i, it := range items {
		s, isString := it.(string)
		if !isString {
			d.ps.add(d.file, fmt.Sprintf("%s[%d]", key, i), "must be text, got %s; put it in quotes", describe(it))
			good = false
			continue
		}
		out[i] = s
	}
	if !good {
		d.ps.mark(key) // its items are wrong; "is required" would only add noise
		return false
	}
	if len(out) > 0 { // an empty list stays nil, like a missing one
		v.Set(reflect.ValueOf(out))
	}
	return true
}

// fromEnv parses an environment override according to the key's type.
func (d *decoder) fromEnv(key string, ev envValue, v reflect.Value) {
	src := "env " + ev.name
	raw := ev.raw
	var err string
	switch {
	case isDuration(v.Type()):
		dur, perr := time.ParseDuration(raw)
		if perr != nil {
			err = durationMsg(raw)
			break
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.Kind() == reflect.Int:
		n, perr := strconv.Atoi(strings.TrimSpace(raw))
		if perr != nil {
			err = fmt.Sprintf("%q is not a whole number", raw)
			break
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Float64:
		f, perr := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			err = fmt.Sprintf("%q is not a finite number", raw)
			break
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Bool:
		b, perr := strconv.ParseBool(strings.TrimSpace(raw))
		if perr != nil {
			err = fmt.Sprintf("%q is not true or false", raw)
			break
		}
		v.SetBool(b)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		v.Set(reflect.ValueOf(splitList(raw)))
	default:
		panic(fmt.Sprintf("configs: key %s has type %s, which the decoder does not handle", key, v.Type()))
	}
	if err != "" {
		d.ps.add(src, key, "%s", err)
		return
	}
	d.origins[key] = src
}

// splitList splits a comma-separated environment value into trimmed items;
// an empty value is an empty (nil) list.
func splitList(raw string) []string {
	var out []string
	if strings.TrimSpace(raw) == "" {
		return out
	}
	for item := range strings.SplitSeq(raw, ",") {
		out = append(out, strings.TrimSpace(item))
	}
	return out
}

// sourceOf names where a value came from, for problems about keys that have
// no field to record an origin in.
func (d *decoder) sourceOf(data any) string {
	if ev, ok := data.(envValue); ok {
		return "env " + ev.name
	}
	return d.file
}

func (d *decoder) typeProblem(key string, data any, want string) {
	d.ps.add(d.sourceOf(data), key, "%s, got %s", want, describe(data))
}

// describe names a decoded YAML value for a problem message.
func describe(data any) string {
	switch x := data.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("text %q", x)
	case bool:
		return fmt.Sprintf("%t", x)
	case int, int64, uint64:
		return fmt.Sprintf("number %v", x)
	case float64:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case time.Time:
		return fmt.Sprintf("date %s (quote it to use it as text)", x.Format(time.RFC3339))
	case envValue:
		return fmt.Sprintf("%q", x.raw)
	}
	return fmt.Sprintf("a %T", data)
}

// suggest returns the candidate closest to key when it is a likely typo
// (edit distance at most 2), else "".
func suggest(key string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if dist := editDistance(key, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
