package configs

import (
	"os"
	"testing"
)

// BenchmarkParse measures loading the example file (a FreeSWITCH node with
// sip, esl and pg probes): YAML, environment, decoding and validation.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("pbxha.example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("pbxha.example.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseInvalid measures a file with many problems, the path of
// `pbxha config check` on a broken file.
func BenchmarkParseInvalid(b *testing.B) {
	data, err := os.ReadFile("testdata/invalid-sip.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("invalid-sip.yaml", data); err == nil {
			b.Fatal("got no error, want problems")
		}
	}
}
