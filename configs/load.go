package configs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EmbeddedSource is the Source of a Config read from the embedded default.
const EmbeddedSource = "embedded default"

// Load reads the configuration file at path, applies PBXHA_ environment
// overrides and defaults, and validates the result. An empty path means
// DefaultPath when that file exists, else the embedded default; the returned
// Config's Source says which was used. Every problem found is returned at
// once as an *Error; the Config is nil then.
func Load(path string) (*Config, error) {
	return load(path, DefaultPath)
}

// LoadLenient is Load for the commands that only need to find the running
// daemon (its control socket, its state directory): it returns the decoded
// config even when it has problems, together with those problems as an
// *Error, so that a file a reload refused does not lock the operator out.
// The Config is nil only when the file cannot be read or is not YAML; a
// key with a problem holds its default then.
func LoadLenient(path string) (*Config, error) {
	name, data, err := read(path, DefaultPath)
	if err != nil {
		return nil, err
	}
	c, ps := parse(name, data)
	return c, ps.err()
}

func load(path, defaultPath string) (*Config, error) {
	name, data, err := read(path, defaultPath)
	if err != nil {
		return nil, err
	}
	return Parse(name, data)
}

// read returns the name and contents of the file to load.
func read(path, defaultPath string) (string, []byte, error) {
	if path == "" {
		_, err := os.Stat(defaultPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return EmbeddedSource, Default(), nil
		case err != nil:
			return "", nil, readError(defaultPath, err)
		}
		path = defaultPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, readError(path, err)
	}
	return path, data, nil
}

func readError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Error{Problems: []Problem{{File: path, Msg: "cannot read: " + err.Error()}}}
}

// Parse is Load for a file already in memory: name labels its problems and
// becomes the Config's Source. Environment overrides come from the process
// environment.
func Parse(name string, data []byte) (*Config, error) {
	c, ps := parse(name, data)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// parse decodes and validates data. It returns the decoded Config even when
// it has problems, so that more checks can run on it, and nil only when the
// text is not YAML.
func parse(name string, data []byte) (*Config, *problems) {
	ps := &problems{}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		syntaxProblems(ps, name, data, err)
		return nil, ps
	}
	// Bind every top-level key to its variable, so that an override works
	// whether or not the file has the key (viper ignores variables of keys it
	// has not seen otherwise). An empty variable sets an empty value.
	v.AllowEmptyEnv(true)
	bound := map[string]string{}
	for _, key := range scalarKeys(reflect.TypeFor[Config](), "") {
		name := envName(key)
		if err := v.BindEnv(key, name); err != nil {
			ps.add("env "+name, key, "cannot be bound: %v", err)
			return nil, ps
		}
		bound[name] = key
	}
	settings := v.AllSettings()
	applied := envOverrides(settings, os.Environ(), bound, v.GetString, ps)

	profile := profileOf(settings)
	cfg := withProfile(defaults(), profile)
	d := &decoder{file: name, ps: ps, origins: map[string]string{}, fast: profile == ProfileFast}
	d.mapping("", settings, reflect.ValueOf(&cfg).Elem())
	cfg.Source, cfg.Env, cfg.origins = name, applied, d.origins
	if cfg.Node.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			ps.add(name, "node.name", "is not set and the host name is unknown (%v); set it", err)
		}
		cfg.Node.Name = host
	}
	cfg.validate(ps, true)
	return &cfg, ps
}

// profileOf returns failover.profile as the file or the environment set
// it ("" when neither did), so that its defaults apply before the keys are
// decoded over them; decoding reports a value of the wrong type.
func profileOf(settings map[string]any) string {
	f, _ := settings["failover"].(map[string]any)
	switch v := f["profile"].(type) {
	case string:
		return v
	case envValue:
		return v.raw
	}
	return ""
}

var (
	yamlLineRE   = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.+)$`)
	yamlAnchorRE = regexp.MustCompile(`anchor '([^']*)'`)
)

// syntaxProblems turns a YAML parse error into problems that name the line.
func syntaxProblems(ps *problems, name string, data []byte, err error) {
	var pe viper.ConfigParseError
	if errors.As(err, &pe) {
		err = pe.Unwrap()
	}
	lines := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	}
	for _, l := range lines {
		// A message may quote a multi-line value; keep each problem on one line.
		l = strings.ReplaceAll(strings.TrimSpace(l), "\n", `\n`)
		if m := yamlLineRE.FindStringSubmatch(l); m != nil {
			line, _ := strconv.Atoi(m[1])
			if strings.HasPrefix(m[2], "did not find expected") {
				// Parser (not scanner) errors count the line of the
				// construct being parsed from 0.
				line++
			}
			ps.list = append(ps.list, Problem{File: name, Key: "line " + strconv.Itoa(line), Msg: syntaxMsg(m[2])})
			continue
		}
		// The YAML parser leaves the line out when it is the first one, and
		// for anchor errors; find the anchor's use in the text then.
		line := 1
		if m := yamlAnchorRE.FindStringSubmatch(l); m != nil {
			line = findLine(data, m[1])
		}
		ps.list = append(ps.list, Problem{File: name, Key: "line " + strconv.Itoa(line), Msg: syntaxMsg(l)})
	}
}

func syntaxMsg(msg string) string {
	switch {
	case msg == "":
		return "is not valid YAML"
	case strings.HasPrefix(msg, "cannot unmarshal !!seq into map"),
		strings.HasPrefix(msg, "cannot unmarshal !!str") && strings.HasSuffix(msg, "into map[string]interface {}"),
		strings.HasPrefix(msg, "cannot unmarshal !!int") && strings.HasSuffix(msg, "into map[string]interface {}"):
		return "the file must be a mapping of sections such as node:, log: and probes:"
	case strings.HasPrefix(msg, "cannot unmarshal") && strings.HasSuffix(msg, "into string"):
		return "a key must be a plain name, not a list or mapping"
	case strings.Contains(msg, "found character that cannot start any token"):
		return msg + " (YAML indents with spaces, not tabs)"
	}
	return msg
}

// findLine returns the 1-based line of the first use (*name) or definition
// (&name) of a YAML anchor, or 1.
func findLine(data []byte, anchor string) int {
	for _, mark := range []string{"*" + anchor, "&" + anchor} {
		if i := bytes.Index(data, []byte(mark)); i >= 0 {
			return bytes.Count(data[:i], []byte("\n")) + 1
		}
	}
	return 1
}
