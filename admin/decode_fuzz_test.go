package admin

import (
	"slices"
	"testing"
	"time"
)

// FuzzDecodeObject: the admin API's JSON intake never panics, accepts only
// flat objects of allowed, distinct, non-null fields, and its typed readers
// keep every accepted value inside its range.
func FuzzDecodeObject(f *testing.F) {
	for _, seed := range []string{
		`{"loadfactor": 2.5}`, `{"status": "+D", "lbset": 3}`, `{"route": "r1", "redirect": "r2"}`,
		`{"timeout": "1.5s"}`, `{"timeout": 30}`, `{"nofailover": true}`, `{"loadfactor": 1e400}`,
		`{"loadfactor": NaN}`, `{"a": 1, "a": 2}`, `{"lbset": null}`, `{} {}`, `[1]`, `{"lbset": -0}`,
		`{"route": "\u0000"}`, `{"loadfactor": "5"}`, `{"lbset": 1.0}`,
	} {
		f.Add([]byte(seed))
	}
	allowed := []string{"loadfactor", "lbset", "route", "redirect", "status", "timeout", "nofailover"}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := decodeObject(body, allowed)
		if err != nil {
			return
		}
		if len(fields) == 0 {
			t.Fatal("an empty object was accepted")
		}
		seen := map[string]bool{}
		for _, fl := range fields {
			if !slices.Contains(allowed, fl.key) || seen[fl.key] {
				t.Fatalf("field %q unknown or repeated", fl.key)
			}
			seen[fl.key] = true
			if string(fl.raw) == "null" {
				t.Fatalf("null accepted for %q", fl.key)
			}
			if v, err := number(fl, 1, 100, "1 to 100"); err == nil && (v < 1 || v > 100) {
				t.Fatalf("number %v out of range", v)
			}
			if v, err := integer(fl, 0, 99); err == nil && (v < 0 || v > 99) {
				t.Fatalf("integer %v out of range", v)
			}
			if d, err := duration(fl); err == nil && (d < 0 || d > 2*time.Hour) {
				t.Fatalf("duration %v out of range", d)
			}
			_, _ = text(fl)
			_, _ = boolean(fl)
		}
	})
}
