package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParseYAML decodes native YAML strictly (unknown keys are errors), applies
// defaults and validates. name is used in messages.
func ParseYAML(name string, src []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, yamlError(name, nil, err)
	}
	if err := emptyEntry(name, &doc, ""); err != nil {
		return nil, err
	}
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(name, &doc, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{Pos: Pos{File: name, Line: extra.Line}, Msg: "holds more than one YAML document"}
	}
	cfg.Source = name
	idx := yamlIndex{}
	if len(doc.Content) > 0 {
		idx.walk(doc.Content[0], reflect.ValueOf(cfg).Elem(), name)
	}
	idx.presence(cfg)
	return finish(cfg, idx)
}

// Dump writes cfg as normalized YAML; ParseYAML reads it back to an equal
// model.
func Dump(cfg *Config) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("cannot dump config %q: %w", cfg.Source, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("cannot dump config %q: %w", cfg.Source, err)
	}
	return b.Bytes(), nil
}

// MarshalYAML writes retry: 0s for a member that set it: the zero value is
// otherwise omitted and would read back as the 60s default.
func (m Member) MarshalYAML() (any, error) {
	type plain Member
	var n yaml.Node
	if err := n.Encode(plain(m)); err != nil {
		return nil, err
	}
	addZeroRetry(&n, &m.Params)
	return &n, nil
}

// MarshalYAML writes retry: 0s for a route worker that set it.
func (r Route) MarshalYAML() (any, error) {
	type plain Route
	var n yaml.Node
	if err := n.Encode(plain(r)); err != nil {
		return nil, err
	}
	if r.Worker != nil {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "worker" {
				addZeroRetry(n.Content[i+1], r.Worker)
			}
		}
	}
	return &n, nil
}

func addZeroRetry(n *yaml.Node, p *WorkerParams) {
	if !p.RetrySet || p.Retry != 0 || n.Kind != yaml.MappingNode {
		return
	}
	n.Content = append(n.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "retry"},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "0s"})
}

// emptyEntry refuses a list entry that is null ("-" alone, "~", "null",
// or an alias of one): it would decode to a nil host, route, rule or
// member, or to a zero one, and no key means that. key names the list.
func emptyEntry(file string, n *yaml.Node, key string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := emptyEntry(file, c, key); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := emptyEntry(file, n.Content[i+1], n.Content[i].Value); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			item := c
			if item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias // its own entries are checked where it is defined
			}
			if item.Kind == yaml.ScalarNode && item.Tag == "!!null" {
				return &Error{Pos: Pos{File: file, Line: c.Line}, Key: key, Msg: "has an empty entry"}
			}
			if err := emptyEntry(file, c, key); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlIndex maps a model struct (by pointer) to the mapping node it was
// decoded from, to find the line of a key.
type yamlIndex map[any]*yaml.Node

// key returns the key node named key in owner's mapping, or nil.
func (idx yamlIndex) key(owner any, key string) *yaml.Node {
	k, _ := mapEntry(idx[owner], key)
	return k
}

var (
	posType        = reflect.TypeFor[Pos]()
	hcTemplateType = reflect.TypeFor[HCTemplate]()
)

// walk records mapping nodes and sets Pos fields, following the value v was
// decoded into.
func (idx yamlIndex) walk(n *yaml.Node, v reflect.Value, file string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			idx.walk(n, v.Elem(), file)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i := 0; i < v.Len() && i < len(n.Content); i++ {
			idx.walk(n.Content[i], v.Index(i), file)
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode || !v.CanAddr() {
			return
		}
		idx[v.Addr().Interface()] = n
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case f.Type == posType:
				v.Field(i).Set(reflect.ValueOf(Pos{File: file, Line: n.Line}))
			case opts == "inline":
				idx.walk(n, v.Field(i), file)
			case name != "" && name != "-":
				if _, val := mapEntry(n, name); val != nil {
					idx.walk(val, v.Field(i), file)
				}
			}
		}
	}
}

// mapEntry returns the key and value nodes of key in the mapping n, or
// nils. Like the decoder it follows merge keys ("<<: *defaults"): a key
// the mapping has only through a merge is set all the same, so retry: 0s
// or forcerecovery: false must not read as absent and take the default.
func mapEntry(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch kn, vn := n.Content[i], n.Content[i+1]; {
		case kn.Tag == "!!merge" && vn.Kind == yaml.SequenceNode:
			merged = append(merged, vn.Content...)
		case kn.Tag == "!!merge":
			merged = append(merged, vn)
		case kn.Value == key:
			return kn, vn // the mapping's own entry wins over merged ones
		}
	}
	for _, m := range merged {
		if k, v := mapEntry(m, key); k != nil {
			return k, v
		}
	}
	return nil, nil
}

// presence applies defaults that a zero value cannot express: booleans that
// default to true, and retry: 0s against an absent retry.
// Absent vhost settings come from the server, as in Apache.
func (idx yamlIndex) presence(cfg *Config) {
	if cfg.Main == nil {
		cfg.Main = &Host{}
	}
	idx.hostPresence(cfg.Main)
	for _, h := range cfg.VHosts {
		idx.hostPresence(h)
		inheritHost(cfg.Main, h, func(key string) bool { return idx.key(h, key) != nil })
	}
}

func (idx yamlIndex) hostPresence(h *Host) {
	if idx.key(h, "add_headers") == nil {
		h.AddHeaders = true
	}
	if idx.key(h, "balancer_inherit") == nil {
		h.BalancerInherit = true
	}
	for _, r := range h.Routes {
		if r.Worker != nil {
			r.Worker.RetrySet = idx.key(r.Worker, "retry") != nil
		}
	}
	for _, b := range h.Balancers {
		if idx.key(b, "forcerecovery") == nil {
			b.ForceRecovery = true
		}
		for _, m := range b.Members {
			m.Params.RetrySet = idx.key(m, "retry") != nil
		}
	}
}

var (
	reYAMLLine    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	reYAMLUnknown = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	reYAMLType    = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
	reYAMLDur     = regexp.MustCompile("^cannot use `(.*)` as a duration: (.*)$")
)

// yamlError turns a yaml.v3 error into an *Error naming the key and line.
func yamlError(file string, doc *yaml.Node, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	m := reYAMLLine.FindStringSubmatch(msg)
	if m == nil {
		return &Error{Pos: Pos{File: file}, Msg: strings.TrimPrefix(msg, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	e := &Error{Pos: Pos{File: file, Line: line}, Msg: m[2]}
	if u := reYAMLUnknown.FindStringSubmatch(m[2]); u != nil {
		e.Key = u[1]
		e.Msg = "unknown key " + allowed(yamlKeys(u[2]))
		return e
	}
	var val, want string
	coll := false // yaml.v3 names no value for a list or a mapping
	if t := reYAMLType.FindStringSubmatch(m[2]); t != nil {
		val, want, coll = t[2], "must be "+typeWord(t[3]), t[1] == "seq" || t[1] == "map"
	} else if d := reYAMLDur.FindStringSubmatch(m[2]); d != nil {
		val, want = d[1], "must be "+strings.TrimPrefix(d[2], "want ")
	} else {
		return e
	}
	e.Key, e.Value, e.Msg = "value", val, want
	if k, v := keyAtLine(doc, "", line, val, coll); v != nil {
		e.Key = k
		if v.Kind == yaml.ScalarNode {
			e.Value = v.Value // yaml.v3 shortens a long one to 7 bytes and "..."
		}
	}
	return e
}

// keyAtLine finds the value node on line that yaml.v3's message shows as
// val (shortened past 10 bytes; with coll, a list or mapping, which it
// shows no value of), and the key it was written under; a list's items
// are under the list's key. key is the key of n itself.
func keyAtLine(n *yaml.Node, key string, line int, val string, coll bool) (string, *yaml.Node) {
	if n == nil {
		return "", nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		short, cut := strings.CutSuffix(val, "...")
		if !coll && n.Line == line && key != "" && (n.Value == val || cut && len(n.Value) > 10 && strings.HasPrefix(n.Value, short)) {
			return key, n
		}
		return "", nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := keyAtLine(n.Content[i+1], n.Content[i].Value, line, val, coll); v != nil {
				return k, v
			}
		}
	default:
		for _, c := range n.Content {
			if k, v := keyAtLine(c, key, line, val, coll); v != nil {
				return k, v
			}
		}
	}
	// A list or mapping where a single value belongs: the innermost one
	// on the line, so its entries were looked at first.
	if n.Kind != yaml.DocumentNode && n.Line == line && key != "" && val == "" {
		return key, n
	}
	return "", nil
}

func typeWord(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "*int"):
		return "a whole number"
	case goType == "float64":
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string", strings.HasPrefix(goType, "config.ViaMode"):
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "a mapping"
}

// modelTypes are the structs YAML decodes into, by yaml.v3's type names:
// every struct Config reaches through its YAML fields, so that no type's
// unknown-key error lists nothing as allowed.
var modelTypes = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	cfg := reflect.TypeFor[Config]()
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() != cfg.PkgPath() || m["config."+t.Name()] != nil {
			return
		}
		m["config."+t.Name()] = t
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() && f.Tag.Get("yaml") != "-" {
				add(f.Type)
			}
		}
	}
	add(cfg)
	return m
}()

// yamlKeys lists the keys a model type accepts, inline fields included.
func yamlKeys(typeName string) []string {
	t, ok := modelTypes[typeName]
	if !ok {
		return nil
	}
	if t == hcTemplateType {
		return append([]string{"name"}, hcKeys...) // what ProxyHCTemplate takes
	}
	var keys []string
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			name, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			switch {
			case opts == "inline":
				collect(t.Field(i).Type)
			case name != "" && name != "-":
				keys = append(keys, name)
			}
		}
	}
	collect(t)
	return keys
}
