package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, checks and decodes the config file at path, applies defaults and resolves relative paths
// against the file's folder. Errors name the file and, where known, the line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = path
	c.resolvePaths()
	return c, nil
}

// Parse decodes config text and applies defaults. Unknown keys are errors naming the key and its line.
func Parse(data []byte) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%w: line %d: more than one YAML document", ErrInvalid, extra.Line)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrInvalid)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: the top level must be a mapping (key: value), got a %s",
			ErrInvalid, root.Line, kindName(root.Kind))
	}
	if err := checkKeys(root, reflect.TypeOf(Config{}), ""); err != nil {
		return nil, err
	}
	// The health section's defaults are set before decoding, so that a key the file sets to false or
	// 0 (health.enabled, health.max-down-fraction) keeps its value.
	c := &Config{Health: defaultHealth()}
	if err := root.Decode(c); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c.applyDefaults()
	return c, nil
}

// checkKeys walks the YAML tree beside the Go type and reports the first key the type does not know.
func checkKeys(n *yaml.Node, t reflect.Type, where string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.AliasNode && n.Alias != nil:
		return checkKeys(n.Alias, t, where)
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // merge key
				if err := checkKeys(v, t, where); err != nil {
					return err
				}
				continue
			}
			f, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("%w: line %d: unknown key %q%s (known keys: %s)",
					ErrInvalid, k.Line, k.Value, inWhere(where), knownKeys(fields))
			}
			if err := checkKeys(v, f.Type, join(where, k.Value)); err != nil {
				return err
			}
			if f.Type == reflect.TypeFor[Duration]() {
				// Decoded here as well, so that a bad duration names its key.
				var d Duration
				if err := v.Decode(&d); err != nil {
					return fmt.Errorf("%w: %s: %v", ErrInvalid, join(where, k.Value), err)
				}
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			if err := checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		// "tor:" with nothing under it: fine, defaults apply.
	case t.Kind() == reflect.Struct:
		return fmt.Errorf("%w: line %d: %s must be a mapping (key: value), got a %s",
			ErrInvalid, n.Line, orTop(where), kindName(n.Kind))
	case t.Kind() == reflect.Slice && n.Kind != yaml.SequenceNode && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null"):
		return fmt.Errorf("%w: line %d: %s must be a list, got a %s", ErrInvalid, n.Line, orTop(where), kindName(n.Kind))
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	return m
}

func knownKeys(fields map[string]reflect.StructField) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func inWhere(where string) string {
	if where == "" {
		return ""
	}
	return " in " + where
}

func orTop(where string) string {
	if where == "" {
		return "the top level"
	}
	return where
}

// Env names read by ApplyEnv, as the Python tool defines them.
const (
	EnvConfig       = "ONIONBALANCE_CONFIG"
	EnvControlSock  = "ONIONBALANCE_TOR_CONTROL_SOCKET"
	EnvStatusSocket = "ONIONBALANCE_STATUS_SOCKET_LOCATION"
	EnvLogLevel     = "ONIONBALANCE_LOG_LEVEL"
)

// ApplyEnv applies environment overrides: ONIONBALANCE_STATUS_SOCKET_LOCATION wins over the
// status-socket-location key, as in the Python tool.
func (c *Config) ApplyEnv(getenv func(string) string) {
	if v := getenv(EnvStatusSocket); v != "" {
		c.StatusSocketLocation = v
	}
}
