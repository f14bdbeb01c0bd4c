package configs

import (
	"fmt"

	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pbxha/pbxha/hooks"
)

// envOverrides marks the PBXHA_ variables of environ in settings so that the
// decoder parses them by the type of their key, and reports every PBXHA_
// variable that names no key. The names pbxha itself sets for the commands
// it runs (hooks.Reserved: PBXHA_EVENT, PBXHA_ROLE, PBXHA_CONFIG...) are
// not overrides and are skipped, so that every pbxha command works inside
// a hook. Variables in bound (name -> key path) are the
// top-level keys that viper already resolved; get returns viper's value for
// such a key. Variables that name an element of a probe list
// (PBXHA_PROBES_SIP_0_TIMEOUT), which viper cannot address, are applied here.
// It returns the names of the variables applied, sorted.
func envOverrides(settings map[string]any, environ []string, bound map[string]string, get func(key string) string, ps *problems) []string {
	var applied []string
	for _, kv := range environ {
		name, raw, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || hooks.IsReserved(name) {
			continue
		}
		if key, ok := bound[name]; ok {
			setPath(settings, strings.Split(key, "."), envValue{name: name, raw: get(key)})
			applied = append(applied, name)
			continue
		}
		msg := applyListEnv(settings, name, raw)
		if msg != "" {
			ps.add("env "+name, "", "%s", msg)
			continue
		}
		applied = append(applied, name)
	}
	slices.Sort(applied)
	return applied
}

// listSections are the sections whose lists of mappings environment
// variables can address by index: PBXHA_PROBES_SIP_0_TIMEOUT,
// PBXHA_ALERTS_ENDPOINTS_1_URL.
var listSections = []struct {
	section string
	typ     reflect.Type
}{
	{"probes", reflect.TypeFor[Probes]()},
	{"alerts", reflect.TypeFor[Alerts]()},
}

// applyListEnv sets <section>.<list>[<i>].<key> from
// PBXHA_<SECTION>_<LIST>_<I>_<KEY>. It returns why the variable names no key,
// or "" when it was applied.
func applyListEnv(settings map[string]any, name, raw string) string {
	const none = "names no config key; see `pbxha config default` for the keys (write PBXHA_SECTION_KEY, or PBXHA_PROBES_KIND_INDEX_KEY for a probe)"
	for _, ls := range listSections {
		rest, ok := strings.CutPrefix(name, EnvPrefix+strings.ToUpper(ls.section)+"_")
		if !ok {
			continue
		}
		for _, f := range fieldsOf(ls.typ) {
			if !isList(f.typ) {
				continue
			}
			after, ok := strings.CutPrefix(rest, strings.ToUpper(f.key)+"_")
			if !ok {
				continue
			}
			return applyListElemEnv(settings, ls.section, f, after, name, raw, none)
		}
	}
	return none
}

// applyListElemEnv applies one variable to element I of list f of section;
// after is the variable's name after PBXHA_<SECTION>_<LIST>_.
func applyListElemEnv(settings map[string]any, section string, f field, after, name, raw, none string) string {
	idx, suffix, ok := strings.Cut(after, "_")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil || strconv.Itoa(i) != idx {
		return none
	}
	var key string
	for _, k := range scalarKeys(f.typ.Elem(), "") {
		if strings.ToUpper(strings.ReplaceAll(k, ".", "_")) == suffix {
			key = k
		}
	}
	if key == "" {
		return none
	}
	sec, _ := settings[section].(map[string]any)
	list, _ := sec[f.key].([]any)
	what := "probe"
	if section != "probes" {
		what = "entry"
	}
	if i >= len(list) {
		return fmt.Sprintf("%s.%s[%d] does not exist: the config has %d %s %s(s); an environment variable can only override a %s that the file defines",
			section, f.key, i, len(list), f.key, what, what)
	}
	elem, ok := list[i].(map[string]any)
	if !ok {
		if list[i] != nil {
			return fmt.Sprintf("%s.%s[%d] is not a mapping in the file, so it has no key to override", section, f.key, i)
		}
		elem = map[string]any{}
		list[i] = elem
	}
	if !setPath(elem, strings.Split(key, "."), envValue{name: name, raw: raw}) {
		return fmt.Sprintf("%s.%s[%d].%s cannot be set: a parent key in the file is not a mapping", section, f.key, i, key)
	}
	return ""
}

// setPath stores val at the nested key path in m, creating mappings on the
// way. It reports false when a value on the way is not a mapping.
func setPath(m map[string]any, path []string, val any) bool {
	for _, k := range path[:len(path)-1] {
		next, exists := m[k]
		if !exists || next == nil {
			child := map[string]any{}
			m[k] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return false
		}
		m = child
	}
	m[path[len(path)-1]] = val
	return true
}
