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
)

// The config package (obhost/config) is read from its source, as the docs write the defaults
// instead. configSource is what the tests need from it.
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
	var applyDefaults *ast.FuncDecl
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
			case *ast.FuncDecl:
				if d.Name.Name == "applyDefaults" {
					applyDefaults = d
				}
			}
		}
	}
	if structs["Config"] == nil || applyDefaults == nil {
		t.Fatal("obhost/config: no Config struct or applyDefaults function")
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
	// applyDefaults is a list of `if c.X.Y == zero { c.X.Y = value }`.
	for _, stmt := range applyDefaults.Body.List {
		is, ok := stmt.(*ast.IfStmt)
		if !ok || len(is.Body.List) != 1 {
			continue
		}
		as, ok := is.Body.List[0].(*ast.AssignStmt)
		if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
			continue
		}
		gp := strings.TrimPrefix(selectorPath(as.Lhs[0]), "c.")
		k, ok := byGo[gp]
		if !ok {
			t.Fatalf("applyDefaults sets %s, which is no config key", gp)
		}
		v, err := evalConst(as.Rhs[0], consts)
		if err != nil {
			t.Fatalf("applyDefaults, default of %s: %v", k.path, err)
		}
		src.defaults[k.path] = v
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

// evalConst evaluates the constant expressions applyDefaults uses: literals, named constants,
// conversions such as Duration(x), time units and products. Durations come out as time.Duration
// strings.
func evalConst(e ast.Expr, consts map[string]ast.Expr) (string, error) {
	v, isDur, err := eval(e, consts)
	if err != nil {
		return "", err
	}
	if isDur {
		return time.Duration(v.(int64)).String(), nil
	}
	return fmt.Sprint(v), nil
}

func eval(e ast.Expr, consts map[string]ast.Expr) (any, bool, error) {
	switch x := e.(type) {
	case *ast.BasicLit:
		switch x.Kind {
		case token.INT:
			n, err := strconv.ParseInt(x.Value, 0, 64)
			return n, false, err
		case token.STRING:
			s, err := strconv.Unquote(x.Value)
			return s, false, err
		}
	case *ast.Ident:
		if c, ok := consts[x.Name]; ok {
			return eval(c, consts)
		}
	case *ast.SelectorExpr:
		units := map[string]time.Duration{"time.Nanosecond": time.Nanosecond, "time.Millisecond": time.Millisecond,
			"time.Second": time.Second, "time.Minute": time.Minute, "time.Hour": time.Hour}
		if d, ok := units[selectorPath(x)]; ok {
			return int64(d), true, nil
		}
	case *ast.CallExpr: // a conversion such as Duration(DefaultSessionTTL)
		if len(x.Args) == 1 {
			return eval(x.Args[0], consts)
		}
	case *ast.ParenExpr:
		return eval(x.X, consts)
	case *ast.BinaryExpr:
		if x.Op == token.MUL {
			a, da, err := eval(x.X, consts)
			if err != nil {
				return nil, false, err
			}
			b, db, err := eval(x.Y, consts)
			if err != nil {
				return nil, false, err
			}
			ai, ok1 := a.(int64)
			bi, ok2 := b.(int64)
			if ok1 && ok2 {
				return ai * bi, da || db, nil
			}
		}
	}
	return nil, false, fmt.Errorf("cannot evaluate %T at %v", e, e.Pos())
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
