package server

import (
	"regexp"
	"strings"
)

// File handlers: Apache's <Files> and <FilesMatch> sections with
// SetHandler "proxy:URL" (config.Route.Files), as Debian's PHP-FPM
// configuration proxies *.php. Apache maps the URL-path to a file under
// DocumentRoot, splitting off what follows the file as PATH_INFO, and
// proxies when the file's name matches. sluice serves no files and need
// not see them: the file is the first segment of the path whose name
// matches, so /app/index.php/user/7 runs DocumentRoot/app/index.php with
// PATH_INFO /user/7 (docs/compatibility.md).

// filesPattern compiles a route's file pattern: FilesMatch's regular
// expression, or <Files>' glob turned into one (* and ? match within a
// name, [...] a class).
func filesPattern(files string, match bool, re *regexp.Regexp) (*regexp.Regexp, error) {
	if match {
		if re != nil {
			return re, nil
		}
		return regexp.Compile(files)
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(files); i++ {
		switch c := files[i]; c {
		case '*':
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(files[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := files[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// scriptEnd is where the script ends in path: after the first segment
// whose name r's pattern matches; -1 when none does.
func (r *route) scriptEnd(path []byte) int {
	for start := 0; start < len(path); {
		if path[start] == '/' {
			start++
			continue
		}
		end := start
		for end < len(path) && path[end] != '/' {
			end++
		}
		if r.files.Match(path[start:end]) {
			return end
		}
		start = end
	}
	return -1
}

// fileRoute is the file handler for path, if one applies: the script is
// the first segment any handler's pattern matches (what follows is
// PATH_INFO, whichever handler it would match), and its handler the last
// of the host's that matches it (Apache merges the sections in config
// order, the later SetHandler winning). It sets x.path to the handler's
// target path joined with the file's path under DocumentRoot, and
// x.scriptLen to the script's length in path.
func (vh *vhost) fileRoute(path []byte, x *exchange) *route {
	var h *route
	end := -1
	for i := len(vh.handlers) - 1; i >= 0; i-- {
		if e := vh.handlers[i].scriptEnd(path); e >= 0 && (end < 0 || e < end) {
			h, end = vh.handlers[i], e
		}
	}
	if h == nil {
		return nil
	}
	// Apache appends the file to the handler's URL as it stands:
	// "proxy:balancer://fpm/" gives balancer://fpm//srv/www/x.php.
	x.path = append(append(x.path[:0], h.targetPath...), vh.documentRoot()...)
	x.path = appendJoinBytes(x.path, path[:end])
	x.scriptLen = end
	return h
}

// documentRoot is DOCUMENT_ROOT: the host's DocumentRoot, else Debian's
// Apache default.
func (vh *vhost) documentRoot() string {
	if vh.docRoot == "" {
		return defaultDocRoot
	}
	return vh.docRoot
}
