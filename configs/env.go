package configs

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// envOverrides marks the PBXHA_ variables of environ in settings so that the
// decoder parses them by the type of their key, and reports every PBXHA_
// variable that names no key. Variables in bound (name -> key path) are the
// top-level keys that viper already resolved; get returns viper's value for
// such a key. Variables that name an element of a probe list
// (PBXHA_PROBES_SIP_0_TIMEOUT), which viper cannot address, are applied here.
// It returns the names of the variables applied, sorted.
func envOverrides(settings map[string]any, environ []string, bound map[string]string, get func(key string) string, ps *problems) []string {
	var applied []string
	for _, kv := range environ {
		name, raw, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
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

// applyListEnv sets probes.<kind>[<i>].<key> from PBXHA_PROBES_<KIND>_<I>_<KEY>.
// It returns why the variable names no key, or "" when it was applied.
func applyListEnv(settings map[string]any, name, raw string) string {
	const none = "names no config key; see `pbxha config default` for the keys (write PBXHA_SECTION_KEY, or PBXHA_PROBES_KIND_INDEX_KEY for a probe)"
	rest, ok := strings.CutPrefix(name, EnvPrefix+"PROBES_")
	if !ok {
		return none
	}
	for _, f := range fieldsOf(reflect.TypeFor[Probes]()) {
		after, ok := strings.CutPrefix(rest, strings.ToUpper(f.key)+"_")
		if !ok {
			continue
		}
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
		probes, _ := settings["probes"].(map[string]any)
		list, _ := probes[f.key].([]any)
		if i >= len(list) {
			return fmt.Sprintf("probes.%s[%d] does not exist: the config has %d %s probe(s); an environment variable can only override a probe that the file defines",
				f.key, i, len(list), f.key)
		}
		elem, ok := list[i].(map[string]any)
		if !ok {
			if list[i] != nil {
				return fmt.Sprintf("probes.%s[%d] is not a mapping in the file, so it has no key to override", f.key, i)
			}
			elem = map[string]any{}
			list[i] = elem
		}
		if !setPath(elem, strings.Split(key, "."), envValue{name: name, raw: raw}) {
			return fmt.Sprintf("probes.%s[%d].%s cannot be set: a parent key in the file is not a mapping", f.key, i, key)
		}
		return ""
	}
	return none
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
