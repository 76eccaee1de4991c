package config

import (
	"fmt"
	"reflect"
	"regexp"
)

var (
	regexpType = reflect.TypeFor[*regexp.Regexp]()
	configType = reflect.TypeFor[Config]()
)

// modelDiff compares two models, ignoring where things were written (Pos,
// Source), Warnings, and Regexp identity (compared by source). nil and empty
// slices are equal. It returns the path of the first difference, or "".
func modelDiff(a, b *Config) string {
	return diffValue("cfg", reflect.ValueOf(a), reflect.ValueOf(b))
}

func diffValue(path string, a, b reflect.Value) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": one side is nil"
			}
			return ""
		}
		if a.Type() == regexpType {
			if a.Interface().(*regexp.Regexp).String() != b.Interface().(*regexp.Regexp).String() {
				return path + ": regexps differ"
			}
			return ""
		}
		return diffValue(path, a.Elem(), b.Elem())
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			f := a.Type().Field(i)
			// Unexported fields hold what was read from files the model
			// names (TLS's certificates): the names are compared.
			if f.Type == posType || a.Type() == configType && (f.Name == "Source" || f.Name == "Warnings") || compiledField(f) || !f.IsExported() {
				continue
			}
			if d := diffValue(path+"."+f.Name, a.Field(i), b.Field(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: length %d != %d", path, a.Len(), b.Len())
		}
		for i := 0; i < a.Len(); i++ {
			if d := diffValue(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return fmt.Sprintf("%s: %v != %v", path, a.Interface(), b.Interface())
	}
	return ""
}

// compiledField reports a field holding a compiled engine (another
// package's type, kept out of YAML): its source text is compared instead.
func compiledField(f reflect.StructField) bool {
	return f.Tag.Get("yaml") == "-" && f.Type.Kind() == reflect.Pointer && f.Type != regexpType &&
		f.Type.Elem().PkgPath() != configType.PkgPath()
}
