package configs

import _ "embed"

// docs/config-reference.md is generated from the schema by a test.
//go:generate go test -run ^TestConfigReference$ -update .

//go:embed default.yaml
var defaultYAML []byte

// Default returns the embedded default configuration file, comments and all:
// one sip probe of the local PBX and every other key at its default. It is
// what Load uses when no file is named and DefaultPath does not exist, and
// what `pbxha config default` prints as a starting file.
func Default() []byte {
	return append([]byte(nil), defaultYAML...)
}
