// Package logformat parses Apache mod_log_config format strings (LogFormat,
// CustomLog) into items the access log writes. Only what sluice can know is
// accepted; anything else is an error naming the directive, so a log never
// silently loses a field.
package logformat

import (
	"errors"
	"fmt"
	"strings"
)

// Item is one piece of a format: Literal text when Directive is 0, else a
// %-directive ('h', 'i', 't', …) with its {Arg}.
type Item struct {
	Directive byte
	Arg       string
	Literal   string
	// Time is a %{…}t strftime format, nil for the default
	// [02/Jan/2006:15:04:05 -0700]; Unit is "sec", "msec", "usec",
	// "msec_frac" or "usec_frac" for those forms instead.
	Time []TimePart
	Unit string
}

// TimePart is literal text, or with Layout a Go time layout for one
// strftime conversion (kept apart, so that no literal reads as a layout).
type TimePart struct {
	Literal, Layout string
}

// Format is a parsed format string.
type Format []Item

// The formats Apache's documentation names, and the nicknames Debian's
// apache2.conf defines, which real configurations use without defining.
var Nicknames = map[string]string{
	"common":         `%h %l %u %t "%r" %>s %b`,
	"combined":       `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`,
	"vhost_combined": `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`,
	"referer":        `%{Referer}i -> %U`,
	"agent":          `%{User-agent}i`,
}

// argDirectives take a {name}; the others take none, but for the optional
// forms %{c}a, %{canonical|local|remote}p, %{pid}P, %{UNIT}T and %{…}t.
const (
	argDirectives = "Ceio"
	supported     = "aAbBCDehHiIklmoOpPqrsStTuUvVX"
)

// Parse reads an Apache format string.
func Parse(s string) (Format, error) {
	var f Format
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f = append(f, Item{Literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			// mod_log_config's escapes in a format string; before any
			// other byte the backslash stays, and that byte is read as
			// if it had none.
			if j := strings.IndexByte(`\nrt`, s[i+1]); j >= 0 {
				lit.WriteByte("\\\n\r\t"[j])
				i++
				continue
			}
		}
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, errors.New("ends with a lone %")
		}
		if s[i] == '%' {
			lit.WriteByte('%')
			continue
		}
		start := i - 1
		// Status conditions ("%400,501{…}i", "%!200…") are not kept.
		if s[i] == '!' || s[i] >= '0' && s[i] <= '9' {
			return nil, fmt.Errorf("status conditions (%s…) are not supported", s[start:i+1])
		}
		// "%>s" and "%<s": the final or original status, both the one sent.
		for i < len(s) && (s[i] == '<' || s[i] == '>') {
			i++
		}
		var arg string
		hasArg := false
		if i < len(s) && s[i] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, errors.New("has an unclosed %{")
			}
			arg, hasArg = s[i+1:i+end], true
			i += end + 1
		}
		if i >= len(s) {
			return nil, fmt.Errorf("ends inside %s", s[start:])
		}
		it := Item{Directive: s[i], Arg: arg}
		if err := it.check(hasArg); err != nil {
			return nil, fmt.Errorf("%s: %w", s[start:i+1], err)
		}
		flush()
		f = append(f, it)
	}
	flush()
	return f, nil
}

func (it *Item) check(hasArg bool) error {
	d := it.Directive
	if !strings.ContainsRune(supported, rune(d)) {
		return fmt.Errorf("not supported (sluice logs %%a %%A %%b %%B %%{NAME}C %%D %%{VAR}e %%h %%H %%{NAME}i %%I %%k %%l %%m %%{NAME}o %%O %%p %%P %%q %%r %%s %%S %%t %%T %%u %%U %%v %%V %%X)")
	}
	needs := strings.ContainsRune(argDirectives, rune(d))
	switch {
	case needs && (!hasArg || it.Arg == ""):
		return fmt.Errorf("needs a {name}")
	case !hasArg, needs:
		return nil
	}
	switch d {
	case 'a':
		if it.Arg == "c" {
			return nil
		}
	case 'p':
		if it.Arg == "canonical" || it.Arg == "local" || it.Arg == "remote" {
			return nil
		}
	case 'P':
		if it.Arg == "pid" {
			return nil
		}
	case 'T':
		if it.Arg == "s" || it.Arg == "ms" || it.Arg == "us" {
			return nil
		}
	case 't':
		return it.timeFormat()
	}
	return fmt.Errorf("{%s} is not supported here", it.Arg)
}

// timeFormat reads %{…}t: an optional begin: or end: (sluice logs the
// request's start for both), then sec, msec, usec, msec_frac, usec_frac
// or an strftime format.
func (it *Item) timeFormat() error {
	arg := it.Arg
	arg = strings.TrimPrefix(strings.TrimPrefix(arg, "begin:"), "end:")
	switch arg {
	case "sec", "msec", "usec", "msec_frac", "usec_frac":
		it.Unit = arg
		return nil
	}
	var lit strings.Builder
	for i := 0; i < len(arg); i++ {
		if arg[i] != '%' || i+1 == len(arg) {
			lit.WriteByte(arg[i])
			continue
		}
		i++
		if arg[i] == '%' {
			lit.WriteByte('%')
			continue
		}
		l, ok := strftime[arg[i]]
		if !ok {
			return fmt.Errorf("strftime %%%c is not supported (allowed: %%a %%b %%d %%e %%F %%H %%j %%m %%M %%p %%S %%T %%y %%Y %%z %%Z %%%%)", arg[i])
		}
		if lit.Len() > 0 {
			it.Time = append(it.Time, TimePart{Literal: lit.String()})
			lit.Reset()
		}
		it.Time = append(it.Time, TimePart{Layout: l})
	}
	if lit.Len() > 0 {
		it.Time = append(it.Time, TimePart{Literal: lit.String()})
	}
	return nil
}

// strftime maps the conversions logs use to Go layouts.
var strftime = map[byte]string{
	'a': "Mon", 'b': "Jan", 'd': "02", 'e': "_2", 'F': "2006-01-02", 'H': "15", 'j': "002",
	'm': "01", 'M': "04", 'p': "PM", 'S': "05", 'T': "15:04:05", 'y': "06", 'Y': "2006",
	'z': "-0700", 'Z': "MST",
}
