package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pbxha/pbxha/internal/testenv"
	"go.yaml.in/yaml/v3"
)

var metricNameRE = regexp.MustCompile(`\bpbxha_[a-z0-9_]+`)

// exported returns the metric names a fully wired pair node exports,
// histogram series names included.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := fullMetrics()
	m.Publish(fakeFailover())
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		n := f.GetName()
		names[n] = true
		if f.GetType().String() == "HISTOGRAM" {
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		}
	}
	return names
}

// exprs collects every string under a key named expr or query in a JSON or
// YAML document.
func exprs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && (k == "expr" || k == "query") {
				*out = append(*out, s)
				continue
			}
			exprs(val, out)
		}
	case []any:
		for _, val := range x {
			exprs(val, out)
		}
	}
}

// TestMonitoringNamesExist: every pbxha_ metric the Grafana dashboard and
// the Prometheus rules name is one pbxha exports.
func TestMonitoringNamesExist(t *testing.T) {
	have := exported(t)
	for _, tc := range []struct {
		file  string
		parse func([]byte, any) error
	}{
		{"../configs/grafana-dashboard.json", json.Unmarshal},
		{"../configs/prometheus-rules.yaml", yaml.Unmarshal},
	} {
		b, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := tc.parse(b, &doc); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		var found []string
		exprs(doc, &found)
		if len(found) < 10 {
			t.Fatalf("%s: found %d expressions, want the dashboard's and rules'", tc.file, len(found))
		}
		var names []string
		for _, e := range found {
			names = append(names, metricNameRE.FindAllString(e, -1)...)
		}
		slices.Sort(names)
		for _, n := range slices.Compact(names) {
			if !have[n] {
				t.Errorf("%s names %s, which pbxha does not export", tc.file, n)
			}
		}
	}
}

// TestPrometheusRules loads the rules with promtool (Debian's prometheus
// package) and runs their unit tests (configs/prometheus-rules.test.yaml).
func TestPrometheusRules(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "prometheus-rules.yaml"},
		{"test", "rules", "prometheus-rules.test.yaml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../configs"
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
