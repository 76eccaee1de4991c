package config

import (
	"errors"
	"strings"
)

// logicalLine is one directive or section tag after comments are dropped and
// "\" continuations joined; pos is the line it starts on.
type logicalLine struct {
	pos  Pos
	text string
}

// splitLines cuts an Apache config into logical lines. As in Apache, "#"
// starts a comment only at the beginning of a line, so "ProxyTimeout 60 # x"
// is a directive with three arguments, and only once continuations are
// joined, so a comment ending in a backslash takes in the next line. A
// backslash continues a line only right before its line feed (or CR LF),
// as in ap_cfg_getline: one followed by blanks, or ending the file, is text.
// A UTF-8 byte order mark that an editor put at the start is dropped, where
// httpd would refuse the file; kept, it glued itself to the first directive's
// name and made it an ignored unknown one.
func splitLines(file string, src []byte) []logicalLine {
	var out []logicalLine
	var cur strings.Builder
	start := 0
	flush := func() {
		if text := strings.TrimRight(cur.String(), " \t\r\f\v"); text != "" && text[0] != '#' {
			out = append(out, logicalLine{pos: Pos{File: file, Line: start}, text: text})
		}
		cur.Reset()
	}
	lines := strings.Split(strings.TrimPrefix(string(src), "\uFEFF"), "\n")
	for i, raw := range lines {
		text := strings.TrimSuffix(raw, "\r")
		if cur.Len() == 0 {
			start = i + 1
			text = strings.TrimLeft(text, " \t\f\v")
		}
		if cont, ok := strings.CutSuffix(text, "\\"); ok && i < len(lines)-1 {
			cur.WriteString(cont)
			continue
		}
		cur.WriteString(text)
		flush()
	}
	flush()
	return out
}

var errUnterminatedQuote = errors.New("has an unterminated quote")

// words splits directive arguments as ap_getword_conf does: whitespace
// separates words, "…" and '…' quote them, and a backslash escapes a
// backslash or the quote character.
func words(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		var w string
		if q := s[0]; q == '"' || q == '\'' {
			end := -1
			for i := 1; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == q || s[i+1] == '\\') {
					i++
					continue
				}
				if s[i] == q {
					end = i
					break
				}
			}
			if end < 0 {
				return nil, errUnterminatedQuote
			}
			w, s = unescape(s[1:end], q), s[end+1:]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			w, s = unescape(s[:end], 0), s[end:]
		}
		out = append(out, w)
	}
}

func unescape(s string, quote byte) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '\\' || quote != 0 && s[i+1] == quote) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// braced returns the text of a {…} argument (ProxyHCExpr), nesting-aware,
// or the first word when the argument is not braced.
func braced(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		w, err := words(s)
		if err != nil || len(w) != 1 {
			return "", errors.New("needs one expression in braces: {expr}")
		}
		return w[0], nil
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				if strings.TrimSpace(s[i+1:]) != "" {
					return "", errors.New("has text after the closing brace")
				}
				return strings.TrimSpace(s[1:i]), nil
			}
		}
	}
	return "", errors.New("has an unclosed {")
}
