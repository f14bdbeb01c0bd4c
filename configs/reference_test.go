package configs

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateReference = flag.Bool("update", false, "rewrite "+referencePath+" from the config schema")

// referencePath is the generated configuration reference, from this
// package's directory.
const referencePath = "../docs/config-reference.md"

// TestConfigReference regenerates docs/config-reference.md from the schema
// (the Config structs, their defaults and the comments on their fields) and
// fails when the checked-in copy differs, or when a key has no comment.
// `go generate ./configs` runs it with -update to rewrite the file.
func TestConfigReference(t *testing.T) {
	docs, err := fieldDocs(".")
	if err != nil {
		t.Fatal(err)
	}
	got, missing := reference(docs)
	if len(missing) > 0 {
		t.Errorf("keys without a description: %s; give each field a comment in config.go", strings.Join(missing, ", "))
	}
	if *updateReference {
		if err := os.WriteFile(referencePath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v; generate it with `go generate ./configs`", err)
	}
	if string(got) != string(want) {
		t.Errorf("docs/config-reference.md is not what the config schema generates; regenerate it with " +
			"`go generate ./configs` (or `go test ./configs -run TestConfigReference -update`) and commit it")
	}
}

// fieldDocs reads the comments of the struct fields declared in the
// package's source files in dir: type name -> field name -> the field's
// line comment, or its doc comment when it has none, on one line.
func fieldDocs(dir string) (map[string]map[string]string, error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("configs: reference: parse %s: %w", dir, err)
	}
	oneLine := func(cg *ast.CommentGroup) string { return strings.Join(strings.Fields(cg.Text()), " ") }
	docs := map[string]map[string]string{}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					m := map[string]string{}
					for _, fld := range st.Fields.List {
						doc := oneLine(fld.Comment)
						if doc == "" {
							doc = oneLine(fld.Doc)
						}
						for _, n := range fld.Names {
							m[n.Name] = doc
						}
					}
					docs[ts.Name.Name] = m
				}
			}
		}
	}
	return docs, nil
}

// refRow is one key of the reference.
type refRow struct {
	key, typ, def, doc string
}

// reference renders the configuration reference in Markdown from the
// schema: every key, its type, its default (from the code's defaults) and
// its description, taken from docs (type name -> field name -> comment, as
// fieldDocs reads them). It returns the keys that have no description too.
func reference(docs map[string]map[string]string) ([]byte, []string) {
	var b strings.Builder
	var missing []string
	b.WriteString(`# Configuration reference

<!-- Generated from the config schema (configs/config.go: the fields, their
comments and the defaults in code) by ` + "`go generate ./configs`" + `. Do not edit
by hand: change the schema, then regenerate. -->

Every key of ` + "`" + DefaultPath + "`" + `: its type, its default (what a key left out
of the file, or written with no value, gets) and what it does.
` + "`pbxha config default`" + ` prints a commented starting file;
` + "`pbxha config check -c FILE`" + ` checks a file the way ` + "`pbxha run`" + ` does before it starts.

- Durations are written with a unit: ` + "`500ms`, `2s`, `1m30s`" + `; a bare number is an error.
- Every key can be set from the environment: ` + "`PBXHA_`" + ` and the key path in capitals,
  with ` + "`_`" + ` for ` + "`.`" + `, and an item of a list by its index:
  ` + "`PBXHA_LOG_FORMAT`, `PBXHA_PROBES_SIP_0_TIMEOUT`, `PBXHA_ALERTS_ENDPOINTS_1_URL`" + `.
  Lists are comma separated there.
- Unknown keys are errors. A ` + "`[]`" + ` in a key stands for each item of a list.
`)
	cfgType := reflect.TypeFor[Config]()
	def := reflect.ValueOf(defaults())
	// Top-level scalars first, then one part per section.
	var top []refRow
	for _, f := range fieldsOf(cfgType) {
		if !isMapping(f.typ) {
			top = append(top, refRow{key: f.key, typ: typeName(f.typ), def: showDefault(def.FieldByIndex(f.index)), doc: docOf(cfgType, f, docs, &missing, f.key)})
		}
	}
	b.WriteString("\n## Top level\n\n")
	writeTable(&b, top)
	for _, f := range fieldsOf(cfgType) {
		if !isMapping(f.typ) {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", f.key, capital(docOf(cfgType, f, docs, &missing, f.key)))
		sv := def.FieldByIndex(f.index)
		if f.typ != reflect.TypeFor[Probes]() {
			writeTable(&b, rowsOf(f.typ, sv, f.key, docs, &missing))
			continue
		}
		// One part per probe kind: the keys of a probe, with its kind's defaults.
		for _, k := range fieldsOf(f.typ) {
			key := f.key + "." + k.key + "[]"
			fmt.Fprintf(&b, "### %s\n\n%s\n\n", f.key+"."+k.key, capital(docOf(f.typ, k, docs, &missing, f.key+"."+k.key)))
			writeTable(&b, rowsOf(k.typ.Elem(), reflect.ValueOf(defaultProbe(k.key)), key, docs, &missing))
			b.WriteString("\n")
		}
	}
	out := strings.ReplaceAll(b.String(), "\n\n\n", "\n\n")
	return []byte(strings.TrimRight(out, "\n") + "\n"), missing
}

// rowsOf lists the keys of struct type t below prefix, with defaults from v
// (a value of t).
func rowsOf(t reflect.Type, v reflect.Value, prefix string, docs map[string]map[string]string, missing *[]string) []refRow {
	var rows []refRow
	for _, f := range fieldsOf(t) {
		key := joinKey(prefix, f.key)
		doc := docOf(t, f, docs, missing, key)
		fv := v.FieldByIndex(f.index)
		switch {
		case isList(f.typ):
			rows = append(rows, refRow{key: key, typ: typeName(f.typ), def: showDefault(fv), doc: doc})
			elem := reflect.New(f.typ.Elem()).Elem()
			if d := reflect.ValueOf(defaultProbe(f.key)); d.IsValid() && d.Type() == f.typ.Elem() {
				elem = d
			}
			rows = append(rows, rowsOf(f.typ.Elem(), elem, key+"[]", docs, missing)...)
		case isMapping(f.typ):
			rows = append(rows, refRow{key: key, typ: typeName(f.typ), doc: doc})
			rows = append(rows, rowsOf(f.typ, fv, key, docs, missing)...)
		default:
			rows = append(rows, refRow{key: key, typ: typeName(f.typ), def: showDefault(fv), doc: doc})
		}
	}
	return rows
}

// docOf returns the comment of field f of struct type t (or of the struct
// it is squashed from), and records key as missing when there is none.
func docOf(t reflect.Type, f field, docs map[string]map[string]string, missing *[]string, key string) string {
	decl, idx := t, f.index
	for len(idx) > 1 {
		decl, idx = decl.Field(idx[0]).Type, idx[1:]
	}
	doc := docs[decl.Name()][decl.Field(idx[0]).Name]
	if doc == "" {
		*missing = append(*missing, key)
	}
	return doc
}

func typeName(t reflect.Type) string {
	switch {
	case isDuration(t):
		return "duration"
	case isList(t):
		return "list of mappings"
	case isMapping(t):
		return "mapping"
	case t.Kind() == reflect.Slice:
		return "list of strings"
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Bool:
		return "boolean"
	}
	return "string"
}

// showDefault renders a default value for the table.
func showDefault(v reflect.Value) string {
	switch {
	case isDuration(v.Type()):
		d := time.Duration(v.Int()).String() // 1h0m0s reads 1h, 5m0s 5m
		if strings.HasSuffix(d, "m0s") {
			d = strings.TrimSuffix(d, "0s")
		}
		if strings.HasSuffix(d, "h0m") {
			d = strings.TrimSuffix(d, "0m")
		}
		return "`" + d + "`"
	case v.Kind() == reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return "`[" + strings.Join(items, ", ") + "]`"
	case v.Kind() == reflect.String && v.String() == "":
		return "`\"\"`"
	}
	return "`" + fmt.Sprint(v.Interface()) + "`"
}

func writeTable(b *strings.Builder, rows []refRow) {
	b.WriteString("| key | type | default | description |\n| --- | --- | --- | --- |\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, r := range rows {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", r.key, r.typ, cell(r.def), cell(r.doc))
	}
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}
