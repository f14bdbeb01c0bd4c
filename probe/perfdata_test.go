package probe_test

import (
	"math"
	"reflect"
	"regexp"
	"testing"

	"github.com/pbxha/pbxha/probe"
)

func TestParsePerfdata(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]float64
	}{
		{"empty", "", map[string]float64{}},
		{"plain", "load1=0.42", map[string]float64{"load1": 0.42}},
		{"thresholds ignored", "calls=12;80;100;0;120", map[string]float64{"calls": 12}},
		{"milliseconds to seconds", "rta=12.5ms;100;500;0", map[string]float64{"rta": 0.0125}},
		{"microseconds", "t=250us", map[string]float64{"t": 0.00025}},
		{"seconds", "time=1.5s;;;0", map[string]float64{"time": 1.5}},
		{"bytes", "a=1B b=2KB c=3MB d=1GB e=1TB", map[string]float64{"a": 1, "b": 2048, "c": 3 << 20, "d": 1 << 30, "e": 1 << 40}},
		{"percent and counter as printed", "pl=20% rx=123456c", map[string]float64{"pl": 20, "rx": 123456}},
		{"quoted label with spaces", "'active calls'=4;;;0", map[string]float64{"active_calls": 4}},
		{"doubled quote in label", "'it''s'=1", map[string]float64{"it_s": 1}},
		{"label to snake case", "'/var/lib Free'=10 Disk-Used=3", map[string]float64{"var_lib_free": 10, "disk_used": 3}},
		{"negative and exponent", "offset=-0.5s drift=1e-3", map[string]float64{"offset": -0.5, "drift": 0.001}},
		{"unknown value skipped", "a=U;1;2 b=2", map[string]float64{"b": 2}},
		{"unknown unit skipped", "temp=40C b=2", map[string]float64{"b": 2}},
		{"no equals skipped", "garbage b=2 more", map[string]float64{"b": 2}},
		{"empty value skipped", "a= b=2", map[string]float64{"b": 2}},
		{"unterminated quote ends parsing", "b=2 'broken=3", map[string]float64{"b": 2}},
		{"label without letters skipped", "'--'=1 b=2", map[string]float64{"b": 2}},
		{"later duplicate wins", "a=1 A=2", map[string]float64{"a": 2}},
		{"overflow skipped", "a=1e308TB b=1", map[string]float64{"b": 1}},
		{"tabs and newlines separate", "a=1\tb=2\nc=3", map[string]float64{"a": 1, "b": 2, "c": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := probe.ParsePerfdata(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

var perfKeyRE = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

// FuzzParsePerfdata: any plugin output must parse without panicking into
// finite values under snake_case keys.
func FuzzParsePerfdata(f *testing.F) {
	for _, s := range []string{
		"rta=0.5ms;100;500;0 pl=0%;20;60;;",
		"'active calls'=4;;;0;100 'it''s'=1",
		"time=0.01s;;;0.000000 size=1234B;;;0",
		"a=U b= c=1e308TB 'x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for k, v := range probe.ParsePerfdata(in) {
			if !perfKeyRE.MatchString(k) {
				t.Errorf("key %q from %q is not snake_case", k, in)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("value %v for %q from %q is not finite", v, k, in)
			}
		}
	})
}
