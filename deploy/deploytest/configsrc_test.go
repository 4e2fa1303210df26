package deploytest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/obcluster/obcluster/obhost/config"
)

// The config package (obhost/config): its keys and Env* constants are read from its source, its
// defaults from config.Default. configSource is what the tests need from it.
type configSource struct {
	keys     []srcKey          // every leaf key of the config file
	defaults map[string]string // yaml path -> default as written in the docs ("2m0s" for durations)
	env      map[string]string // Env* constant name -> variable name
}

// srcKey is one leaf key: its yaml path ("cluster.etcd.prefix", "services[].key") and Go type.
type srcKey struct {
	path   string
	goPath string // "Cluster.Etcd.Prefix"; empty under a list
	typ    string // "string", "int", "bool", "Duration", "[]string"
}

func parseConfigSource(t *testing.T) configSource {
	t.Helper()
	dir := repoFile(t, "obhost/config")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	structs := map[string]*ast.StructType{}
	consts := map[string]ast.Expr{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if st, ok := s.Type.(*ast.StructType); ok {
							structs[s.Name.Name] = st
						}
					case *ast.ValueSpec:
						if d.Tok == token.CONST {
							for i, n := range s.Names {
								if i < len(s.Values) {
									consts[n.Name] = s.Values[i]
								}
							}
						}
					}
				}
			}
		}
	}
	if structs["Config"] == nil {
		t.Fatal("obhost/config: no Config struct")
	}
	src := configSource{defaults: map[string]string{}, env: map[string]string{}}
	var walk func(st *ast.StructType, path, goPath string)
	walk = func(st *ast.StructType, path, goPath string) {
		for _, f := range st.Fields.List {
			tag := ""
			if f.Tag != nil {
				tag, _ = strconv.Unquote(f.Tag.Value)
			}
			yamlName, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
			for _, n := range f.Names {
				if yamlName == "-" || !n.IsExported() {
					continue
				}
				name := yamlName
				if name == "" {
					name = strings.ToLower(n.Name)
				}
				gp := ""
				if goPath != "-" {
					gp = strings.TrimPrefix(goPath+"."+n.Name, ".")
				}
				switch ty := f.Type.(type) {
				case *ast.Ident:
					if inner := structs[ty.Name]; inner != nil {
						if goPath == "-" { // a struct inside a list item: still under the list
							gp = "-"
						}
						walk(inner, path+name+".", gp)
						continue
					}
					src.keys = append(src.keys, srcKey{path: path + name, goPath: gp, typ: ty.Name})
				case *ast.ArrayType:
					if id, ok := ty.Elt.(*ast.Ident); ok && structs[id.Name] != nil {
						walk(structs[id.Name], path+name+"[].", "-")
						continue
					}
					src.keys = append(src.keys, srcKey{path: path + name, goPath: gp, typ: "[]" + types(ty.Elt)})
				default:
					src.keys = append(src.keys, srcKey{path: path + name, goPath: gp, typ: types(f.Type)})
				}
			}
		}
	}
	walk(structs["Config"], "", "")

	byGo := map[string]srcKey{}
	for _, k := range src.keys {
		if k.goPath != "" {
			byGo[k.goPath] = k
		}
	}
	// The defaults are what config.Default fills in (from the packages' DefaultConfig), read by
	// reflection. The node name defaults to the host name, which the docs say in words.
	def := reflect.ValueOf(config.Default()).Elem()
	for _, k := range src.keys {
		if k.goPath == "" || k.path == "cluster.node-name" {
			continue
		}
		v := def.FieldByName(strings.Split(k.goPath, ".")[0])
		for _, f := range strings.Split(k.goPath, ".")[1:] {
			v = v.FieldByName(f)
		}
		if !v.IsValid() {
			t.Fatalf("config key %s: no field %s in config.Config", k.path, k.goPath)
		}
		if v.IsZero() {
			continue
		}
		switch x := v.Interface().(type) {
		case config.Duration:
			src.defaults[k.path] = x.D().String()
		default:
			src.defaults[k.path] = fmt.Sprint(x)
		}
	}
	for name, e := range consts {
		if strings.HasPrefix(name, "Env") {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				src.env[name], _ = strconv.Unquote(lit.Value)
			}
		}
	}
	return src
}

func types(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return selectorPath(x)
	}
	return fmt.Sprintf("%T", e)
}

func selectorPath(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return selectorPath(x.X) + "." + x.Sel.Name
	}
	return ""
}

func TestConfigSourceParser(t *testing.T) {
	// The parser above must find what the config package is known to hold.
	src := parseConfigSource(t)
	want := map[string]string{
		"cluster.session-ttl":          time.Duration(10 * time.Second).String(),
		"publish.fetch-interval":       (2 * time.Minute).String(),
		"publish.max-backends":         "60",
		"cluster.etcd.prefix":          "/onionbalance",
		"log.level":                    "info",
		"data-dir":                     "/var/lib/onionbalance",
		"cluster.etcd.request-timeout": (5 * time.Second).String(),
	}
	for k, v := range want {
		if src.defaults[k] != v {
			t.Errorf("default of %s = %q, want %q", k, src.defaults[k], v)
		}
	}
	found := map[string]string{}
	for _, k := range src.keys {
		found[k.path] = k.typ
	}
	for k, typ := range map[string]string{"services[].instances[].address": "string", "cluster.etcd.endpoints": "[]string",
		"log.json": "bool", "cluster.session-ttl": "Duration"} {
		if found[k] != typ {
			t.Errorf("key %s: type %q, want %q (keys: %v)", k, found[k], typ, found)
		}
	}
	if src.env["EnvConfig"] != "ONIONBALANCE_CONFIG" {
		t.Errorf("env constants: %v", src.env)
	}
}
