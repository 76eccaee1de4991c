package logformat

import (
	"strings"
	"testing"
)

// TestParse: the directives, their {arguments}, %>s, escapes, and the
// strftime forms of %{…}t split into literals and Go layouts.
func TestParse(t *testing.T) {
	f, err := Parse(`%h %>s "%{Referer}i" %{c}a %{%d/%b/%Y 1%H}t %{msec}t \t%%`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range f {
		switch {
		case it.Directive == 0:
			got = append(got, "lit:"+it.Literal)
		case it.Time != nil:
			var parts []string
			for _, p := range it.Time {
				parts = append(parts, p.Literal+"|"+p.Layout)
			}
			got = append(got, "t:"+strings.Join(parts, ","))
		default:
			got = append(got, string(it.Directive)+"{"+it.Arg+"}"+it.Unit)
		}
	}
	want := []string{"h{}", "lit: ", "s{}", `lit: "`, "i{Referer}", `lit:" `, "a{c}", "lit: ",
		"t:|02,/|,|Jan,/|,|2006, 1|,|15", "lit: ", "t{msec}msec", "lit: \t%"}
	if strings.Join(got, " ; ") != strings.Join(want, " ; ") {
		t.Errorf("parsed\n %q\nwant\n %q", got, want)
	}
	for nick, format := range Nicknames {
		if _, err := Parse(format); err != nil {
			t.Errorf("nickname %s: %v", nick, err)
		}
	}
}

// TestParseEscapes: mod_log_config reads \\, \r, \n and \t in a format's
// text; before any other byte, and at the end, the backslash stays. \r
// used to be an r, and a backslash before another byte was dropped.
func TestParseEscapes(t *testing.T) {
	f, err := Parse(`a\tb\rc\nd\\e\qf\"g\%h\`)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, it := range f {
		if it.Directive != 0 {
			got.WriteString("<" + string(it.Directive) + ">")
		}
		got.WriteString(it.Literal)
	}
	if want := "a\tb\rc\nd\\e\\qf\\\"g\\<h>\\"; got.String() != want {
		t.Errorf("%q, want %q", got.String(), want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{"%h %", "lone %"},
		{"%{Referer", "unclosed"},
		{"%400{Referer}i", "status conditions"},
		{"%!200s", "status conditions"},
		{"%R", "not supported"},
		{"%{x}n", "not supported"},
		{"%i", "needs a {name}"},
		{"%{}i", "needs a {name}"},
		{"%{bogus}p", "{bogus} is not supported"},
		{"%{%Q}t", "strftime %Q"},
		{"%{x}", "ends inside"},
	} {
		if _, err := Parse(tc.format); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.format, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, format := range Nicknames {
		f.Add(format)
	}
	f.Add(`%{%Y-%m-%dT%H:%M:%S}t %{usec_frac}t %{c}a %{remote}p %{X}o %{X}C %{X}e \n%%`)
	f.Fuzz(func(t *testing.T, s string) {
		items, err := Parse(s)
		if err != nil {
			return
		}
		for _, it := range items {
			if it.Directive == 0 && it.Literal == "" {
				t.Fatalf("%q: an empty literal", s)
			}
			if it.Directive != 0 && !strings.ContainsRune(supported, rune(it.Directive)) {
				t.Fatalf("%q: directive %q accepted", s, it.Directive)
			}
		}
	})
}
