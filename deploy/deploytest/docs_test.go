package deploytest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/store"
)

// docTable returns the rows of the markdown tables in text whose first cell is one backticked word,
// by that word, as their cells.
func docTable(text string) map[string][]string {
	rows := map[string][]string{}
	first := regexp.MustCompile("^`([^`]+)`$")
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if m := first.FindStringSubmatch(cells[0]); m != nil {
			rows[m[1]] = cells
		}
	}
	return rows
}

// sameDefault compares a documented default ("`2m`") with the code's ("2m0s").
func sameDefault(k srcKey, code, doc string) error {
	if k.typ == "Duration" {
		d, err := time.ParseDuration(doc)
		if err != nil {
			return err
		}
		doc = d.String()
	}
	if doc != code {
		return fmt.Errorf("documented %q, the code has %q", doc, code)
	}
	return nil
}

func TestConfigurationDocumentsEveryKey(t *testing.T) {
	const rel = "docs/configuration.md"
	rows := docTable(readRepoFile(t, rel))
	src := parseConfigSource(t)
	if len(src.keys) < 25 {
		t.Fatalf("found only %d config keys in the source: the walk is broken", len(src.keys))
	}
	known := map[string]bool{}
	value := regexp.MustCompile("^`([^`]+)`$")
	for _, k := range src.keys {
		known[k.path] = true
		row, ok := rows[k.path]
		if !ok {
			t.Errorf("%s: config key %s is not documented (add a row to the key table)", rel, k.path)
			continue
		}
		if len(row) < 4 {
			t.Errorf("%s: row of %s has %d cells, want key | default | flag | meaning", rel, k.path, len(row))
			continue
		}
		code, hasDefault := src.defaults[k.path]
		if !hasDefault && k.typ == "bool" {
			code, hasDefault = "false", true
		}
		m := value.FindStringSubmatch(row[1])
		switch {
		case !hasDefault && m != nil:
			t.Errorf("%s: %s documents the default %s, the code has none", rel, k.path, row[1])
		case hasDefault && m == nil:
			t.Errorf("%s: %s has the default %q in the code but %q in the docs", rel, k.path, code, row[1])
		case hasDefault:
			if err := sameDefault(k, code, m[1]); err != nil {
				t.Errorf("%s: default of %s: %v", rel, k.path, err)
			}
		}
	}
	// The other way round: no row for a key the code does not have.
	for name := range rows {
		if regexp.MustCompile(`^[a-z][a-z\[\]-]*(\.[a-z\[\]-]+)+$|^[a-z]+-[a-z-]+$`).MatchString(name) && !known[name] {
			t.Errorf("%s documents %s, which is not a config key", rel, name)
		}
	}
}

func TestConfigurationDocumentsEveryFlagAndVariable(t *testing.T) {
	const rel = "docs/configuration.md"
	text := readRepoFile(t, rel)
	bin := buildBinaries(t)
	r := runTool(t, time.Minute, t.TempDir(), nil, bin+"/onionbalance", "run", "--help")
	if r.err != nil {
		t.Fatalf("onionbalance run --help: %v\n%s", r.err, r.stderr)
	}
	flags := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(r.stdout+r.stderr, -1)
	if len(flags) < 10 {
		t.Fatalf("found only %d flags in the daemon's help:\n%s%s", len(flags), r.stdout, r.stderr)
	}
	for _, f := range flags {
		name := f[1]
		short, long := "`-"+name, "`--"+name
		if !regexp.MustCompile(regexp.QuoteMeta(short)+"[` =/]").MatchString(text) &&
			!regexp.MustCompile(regexp.QuoteMeta(long)+"[` =/]").MatchString(text) {
			t.Errorf("%s: daemon flag -%s is not documented", rel, name)
		}
	}
	envs := []string{"ONIONBALANCE_KEK"} // read by cmd/onionbalance
	for _, v := range parseConfigSource(t).env {
		envs = append(envs, v)
	}
	if len(envs) < 4 {
		t.Fatalf("found only %v in the config package", envs)
	}
	for _, env := range envs {
		if !strings.Contains(text, "`"+env+"`") {
			t.Errorf("%s: environment variable %s is not documented", rel, env)
		}
	}
}

func TestEtcdLayoutDocumentsEveryKeyAndField(t *testing.T) {
	const rel = "docs/etcd-layout.md"
	text := readRepoFile(t, rel)
	k, err := store.NewKeys(store.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	const svc, inst, node, slot = "<svc>", "<instance>", "<name>", "<slot>"
	for _, key := range []string{
		k.Config(), k.ServiceKey(svc), k.Instance(svc, inst), k.Published(svc, slot),
		k.Election() + "/<lease-id>", k.Node(node), k.StepDown(node), k.ProbeReport(node), k.BackendHealth(inst),
	} {
		if !strings.Contains(text, key) {
			t.Errorf("%s: key %s is not documented", rel, key)
		}
	}
	fields := recordFields(t)
	if len(fields) < 30 {
		t.Fatalf("found only %d JSON fields in store/record: %v", len(fields), fields)
	}
	for _, f := range fields {
		if !strings.Contains(text, `"`+f.json+`"`) {
			t.Errorf("%s: field %q of record.%s is not in any example", rel, f.json, f.typ)
		}
	}
	t.Logf("checked %d record fields", len(fields))
	for _, s := range []string{"obseal:v1:", "obplain:v1:"} {
		if !strings.Contains(text, s) {
			t.Errorf("%s: the sealed value format %s is not documented", rel, s)
		}
	}
}

// recordField is one JSON field of a record type.
type recordField struct{ typ, json string }

// recordFields returns the JSON fields of every struct type declared in store/record, read from the
// source, so that a record type or field added there is checked without being listed here.
func recordFields(t *testing.T) []recordField {
	t.Helper()
	dir := repoFile(t, "store/record")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []recordField
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", e.Name(), err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, fld := range st.Fields.List {
				if fld.Tag == nil {
					continue
				}
				tag, err := strconv.Unquote(fld.Tag.Value)
				if err != nil {
					t.Fatalf("%s: tag of a field of %s: %v", dir, ts.Name.Name, err)
				}
				name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
				if name != "" && name != "-" {
					out = append(out, recordField{typ: ts.Name.Name, json: name})
				}
			}
			return false
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].typ+"."+out[i].json < out[j].typ+"."+out[j].json })
	return out
}

// TestArchitectureMapsEveryPackage checks that docs/architecture.md names every Go package of the
// repository (a folder with non-test Go files), so that the map of where a change goes stays whole.
func TestArchitectureMapsEveryPackage(t *testing.T) {
	const rel = "docs/architecture.md"
	text := readRepoFile(t, rel)
	root := repoRoot(t)
	pkgs := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dir, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			pkgs[filepath.ToSlash(dir)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 15 {
		t.Fatalf("found only %d packages: %v", len(pkgs), pkgs)
	}
	for p := range pkgs {
		if !strings.Contains(text, "`"+p+"`") && !strings.Contains(text, "`"+p+"/`") {
			t.Errorf("%s: package %s is not in the map", rel, p)
		}
	}
}
