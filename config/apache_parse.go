package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ParseApache decodes Apache httpd directives, applies defaults and
// validates. name is the file's path: messages cite it, and relative Include
// paths resolve against its directory (or ServerRoot once set). Included
// files are read from fsys by absolute path without the leading "/", so
// os.DirFS("/") reads the real filesystem and an empty fstest.MapFS none.
func ParseApache(name string, src []byte, fsys fs.FS) (*Config, error) {
	return ParseApacheRoot(name, src, fsys, "")
}

// ParseApacheRoot is ParseApache with an initial ServerRoot (Apache's -d
// flag); a ServerRoot directive in the file still wins. Without either,
// relative Include paths resolve against the main file's directory.
func ParseApacheRoot(name string, src []byte, fsys fs.FS, root string) (*Config, error) {
	cfg, err := decodeApache(name, src, fsys, root)
	if err != nil {
		return nil, err
	}
	return finish(cfg, nil)
}

// maxIncludeDepth bounds Include nesting, as Apache's 128 does.
const maxIncludeDepth = 64

// maxIncludeSize refuses included files no config needs to be (and devices).
const maxIncludeSize = 16 << 20

type secKind int

const (
	secIf       secKind = iota // <IfModule> and friends: contents are active
	secVHost                   // <VirtualHost>
	secProxy                   // <Proxy url>
	secLocation                // <Location>, <LocationMatch>
	secSkip                    // contents ignored: <Directory>, <IfModule !…>
	secFiles                   // <Files>, <FilesMatch>: SetHandler "proxy:…" only
)

type section struct {
	kind secKind
	tag  string // as written, without "<"
	arg  string
	pos  Pos
	// quiet marks an inactive conditional: nothing inside is reported.
	quiet bool
	bal   *Balancer // <Proxy balancer://…>
	loc   *location
	// require are a <Proxy>'s Require lines; tlsOnly its SSLRequireSSL.
	require []*directive
	tlsOnly bool
	files   *Route         // <Files>/<FilesMatch>: its SetHandler "proxy:…", once seen
	flags   *LocationProxy // a <Proxy>'s ProxyPreserveHost, ProxyAddHeaders, CGIPassAuth
}

// location collects a <Location> until its end tag.
type location struct {
	path    string
	match   bool
	wild    string // a <Location> path with wildcards as written; path is its expression
	handler string
	require []*directive
	tlsOnly bool // SSLRequireSSL
	route   *Route
	proxy   *LocationProxy // its ProxyPreserveHost / ProxyAddHeaders
}

type apacheParser struct {
	fsys fs.FS
	cfg  *Config
	host *Host
	secs []section
	// files is the include stack of absolute paths; display maps them to
	// the names used in messages.
	files   []string
	absDir  string
	dispDir string
	root    string // ServerRoot, "" until set
	// locRoutes are <Location> routes per host, placed before server ones.
	locRoutes map[*Host][]*Route
	// set records the inheritable host settings a vhost wrote, by YAML key.
	set map[*Host]map[string]bool
	// defines are the names Define lines gave (for <IfDefine>), vars
	// the values of those that had one (for ${NAME}); undefined are the
	// names UnDefine removed.
	defines, undefined map[string]bool
	vars               map[string]string
	// mods is the mod_rewrite parsing state (apache_mods.go).
	mods modsState
	// logs is the mod_log_config parsing state (apache_log.go).
	logs logState
	// ppInherit are the hosts' ProxyPassInherit directives.
	ppInherit map[*Host]bool
	// coreTimeouts are the hosts' Timeout directives (finishTimeouts).
	coreTimeouts map[*Host]Duration
	// workerSets are ProxySet lines for plain workers (finishWorkerSets).
	workerSets []workerSet
	// ssls are the hosts' mod_ssl directives, balSSL the SSLProxy* ones
	// of <Proxy balancer://…> sections (finishSSL).
	ssls   map[*Host]*sslState
	balSSL map[*Balancer]*proxySSL
}

// directive is one parsed directive line.
type directive struct {
	pos  Pos
	name string // canonical spelling
	args []string
	raw  string // the text after the name
}

func (d *directive) fail(value, format string, a ...any) *Error {
	return &Error{Pos: d.pos, Key: d.name, Value: value, Msg: fmt.Sprintf(format, a...)}
}

// joined is the directive's arguments as an error quotes them, an AJP
// secret= hidden.
func (d *directive) joined() string {
	args := d.args
	for i, a := range args {
		if k, _, ok := strings.Cut(a, "="); ok && strings.EqualFold(k, secretKey) {
			if &args[0] == &d.args[0] {
				args = slices.Clone(args)
			}
			args[i] = k + "=" + hiddenValue
		}
	}
	return strings.Join(args, " ")
}

func decodeApache(name string, src []byte, fsys fs.FS, root string) (*Config, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %q: %w", name, err)
	}
	main := &Host{AddHeaders: true, BalancerInherit: true}
	p := &apacheParser{
		fsys:         fsys,
		cfg:          &Config{Source: name, Main: main},
		host:         main,
		absDir:       path.Dir(filepath.ToSlash(abs)),
		dispDir:      path.Dir(filepath.ToSlash(name)),
		defines:      map[string]bool{},
		undefined:    map[string]bool{},
		vars:         map[string]string{},
		locRoutes:    map[*Host][]*Route{},
		set:          map[*Host]map[string]bool{},
		ppInherit:    map[*Host]bool{},
		coreTimeouts: map[*Host]Duration{},
		ssls:         map[*Host]*sslState{},
		balSSL:       map[*Balancer]*proxySSL{},
	}
	if root != "" {
		r, err := filepath.Abs(root)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve %q: %w", root, err)
		}
		p.root = filepath.ToSlash(r)
	}
	if err := p.parseFile(filepath.ToSlash(abs), src); err != nil {
		return nil, err
	}
	p.finishMods()
	p.finishTimeouts(main)
	p.finishSSL()
	for _, h := range p.cfg.hosts() {
		if lr := p.locRoutes[h]; len(lr) > 0 {
			h.Routes = append(lr, h.Routes...)
		}
		if h != main {
			inheritHost(main, h, func(key string) bool { return p.set[h][key] })
			h.BalancerInherit = p.balancerInherit(h)
		}
	}
	p.finishWorkerSets()
	return p.cfg, nil
}

// display is the name messages use for an absolute path: relative to the
// main file's directory as the caller wrote it, when it lies below it.
func (p *apacheParser) display(abs string) string {
	if rel, ok := strings.CutPrefix(abs, p.absDir+"/"); ok {
		return path.Join(p.dispDir, rel)
	}
	return abs
}

func (p *apacheParser) parseFile(abs string, src []byte) error {
	p.files = append(p.files, abs)
	defer func() { p.files = p.files[:len(p.files)-1] }()
	depth := len(p.secs)
	for _, ln := range splitLines(p.display(abs), src) {
		if err := p.line(ln); err != nil {
			return err
		}
	}
	if len(p.secs) > depth {
		s := p.secs[len(p.secs)-1]
		return &Error{Pos: s.pos, Key: "<" + s.tag + ">", Value: s.arg,
			Msg: "section was not closed (expected </" + s.tag + "> in the same file)"}
	}
	return nil
}

func (p *apacheParser) line(ln logicalLine) error {
	text := ln.text
	if p.skipping() == nil {
		text = p.resolve(ln.pos, text)
	}
	ln.text = text
	if strings.HasPrefix(text, "</") {
		return p.closeSection(ln)
	}
	if strings.HasPrefix(text, "<") {
		return p.openSection(ln)
	}
	name, rest := cutWord(text)
	if s := p.innermost(secFiles); s != nil && p.skipping() == nil {
		return p.filesDirective(s, ln, name, rest)
	}
	if s := p.skipping(); s != nil {
		if !s.quiet && isProxyDirective(name) {
			return &Error{Pos: ln.pos, Key: name, Value: rest,
				Msg: "is not allowed inside <" + s.tag + "> (sluice ignores that section)"}
		}
		return nil
	}
	spec, known := apacheDirectives[strings.ToLower(name)]
	if !known {
		return p.unknown(ln.pos, name, rest)
	}
	d := &directive{pos: ln.pos, name: spec.name, raw: rest}
	if !spec.raw {
		args, err := words(rest)
		if err != nil {
			return d.fail(rest, "%v", err)
		}
		d.args = args
	}
	return spec.fn(p, d)
}

// cutWord splits s at its first space or tab; rest is trimmed.
func cutWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i], strings.TrimSpace(s[i+1:])
	}
	return s, ""
}

// skipping returns the innermost ignored section, if any.
func (p *apacheParser) skipping() *section {
	for i := len(p.secs) - 1; i >= 0; i-- {
		if p.secs[i].kind == secSkip {
			return &p.secs[i]
		}
	}
	return nil
}

func (p *apacheParser) openSection(ln logicalLine) error {
	body, ok := strings.CutSuffix(strings.TrimSpace(ln.text[1:]), ">")
	tag, rest := cutWord(body)
	if !ok {
		return &Error{Pos: ln.pos, Key: "<" + tag + ">", Msg: "section tag is missing its closing >"}
	}
	if s := p.skipping(); s != nil {
		p.secs = append(p.secs, section{kind: secSkip, tag: tag, pos: ln.pos, quiet: s.quiet})
		return nil
	}
	key := "<" + tag + ">"
	args, err := words(rest)
	if err != nil {
		return &Error{Pos: ln.pos, Key: key, Value: rest, Msg: err.Error()}
	}
	sec := section{tag: tag, arg: strings.Join(args, " "), pos: ln.pos}
	switch lower := strings.ToLower(tag); lower {
	case "virtualhost":
		if ctx := p.context(); ctx != ctxMain {
			return &Error{Pos: ln.pos, Key: key, Value: sec.arg, Msg: "is not allowed inside " + ctxNames[ctx]}
		}
		if len(args) == 0 {
			return &Error{Pos: ln.pos, Key: key, Msg: "needs at least one address, such as *:80"}
		}
		h := &Host{Pos: ln.pos, Addrs: args, AddHeaders: true, BalancerInherit: true}
		p.cfg.VHosts = append(p.cfg.VHosts, h)
		p.host = h
		sec.kind = secVHost
	case "proxy":
		if ctx := p.context(); ctx != ctxMain && ctx != ctxVHost {
			return &Error{Pos: ln.pos, Key: key, Value: sec.arg, Msg: "is not allowed inside " + ctxNames[ctx]}
		}
		if len(args) != 1 {
			return &Error{Pos: ln.pos, Key: key, Value: sec.arg, Msg: "takes one URL, such as balancer://name"}
		}
		sec.kind = secProxy
		if isBalancerURL(args[0]) {
			name, _, err := splitBalancerURL(args[0])
			if err != nil {
				return &Error{Pos: ln.pos, Key: key, Value: args[0], Msg: err.Error()}
			}
			sec.bal = p.balancer(name, ln.pos)
		}
	case "location", "locationmatch":
		if ctx := p.context(); ctx != ctxMain && ctx != ctxVHost {
			return &Error{Pos: ln.pos, Key: key, Value: sec.arg, Msg: "is not allowed inside " + ctxNames[ctx]}
		}
		loc := &location{match: lower == "locationmatch"}
		if len(args) == 2 && args[0] == "~" {
			loc.match, args = true, args[1:]
		}
		if len(args) != 1 {
			return &Error{Pos: ln.pos, Key: key, Value: sec.arg, Msg: "takes one path"}
		}
		loc.path = args[0]
		if !loc.match && strings.ContainsAny(loc.path, "*?[") {
			// As httpd: fnmatch of the whole path, which is what a
			// <LocationMatch> of that expression does everywhere sluice
			// scopes by location (a Header or cookie rule there applied
			// nowhere before).
			loc.path, loc.match, loc.wild = wildcardExpr(loc.path), true, loc.path
		}
		sec.kind, sec.loc = secLocation, loc
	case "files", "filesmatch":
		ctx := p.context()
		if ctx != ctxMain && ctx != ctxVHost || p.innermost(secFiles) != nil {
			p.warn(ln.pos, "<%s> section ignored with its contents: sluice reads it only in the main server or a <VirtualHost>", tag)
			sec.kind = secSkip
			break
		}
		r := &Route{Pos: ln.pos, FilesMatch: lower == "filesmatch"}
		if len(args) == 2 && args[0] == "~" {
			r.FilesMatch, args = true, args[1:]
		}
		if len(args) != 1 {
			return &Error{Pos: ln.pos, Key: key, Value: sec.arg, Msg: "takes one file name pattern"}
		}
		r.Files = args[0]
		sec.kind, sec.files = secFiles, r
	case "ifmodule", "ifdefine", "ifdirective", "iffile", "ifsection":
		// Every module sluice stands in for counts as loaded; a negated
		// test ("!mod_proxy.c") is therefore false. An <IfDefine> of a
		// name a Define or UnDefine line named is tested as httpd does.
		name, neg := strings.CutPrefix(sec.arg, "!")
		on := !neg
		if lower == "ifdefine" && (p.defines[name] || p.undefined[name]) {
			on = p.defines[name] != neg
		}
		sec.kind = secIf
		if !on {
			sec.kind, sec.quiet = secSkip, true
		}
	case "ifversion":
		on, err := ifVersion(args)
		if err != nil {
			return &Error{Pos: ln.pos, Key: key, Value: sec.arg, Msg: err.Error()}
		}
		sec.kind = secIf
		if !on {
			sec.kind, sec.quiet = secSkip, true
		}
	case "requireall", "requireany", "requirenone":
		return &Error{Pos: ln.pos, Key: key, Msg: "is not supported: write the rule as Require lines, of which any one grants (Require not is refused too)"}
	default:
		if strings.HasPrefix(lower, "proxy") {
			return &Error{Pos: ln.pos, Key: key, Value: sec.arg, Msg: "is not supported (sections sluice knows: <VirtualHost>, <Proxy>, <Location>, <LocationMatch>, <If…>)"}
		}
		p.warn(ln.pos, "<%s> section ignored with its contents", tag)
		sec.kind = secSkip
	}
	p.secs = append(p.secs, sec)
	return nil
}

func (p *apacheParser) closeSection(ln logicalLine) error {
	tag := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(ln.text[2:]), ">"))
	if len(p.secs) == 0 || !strings.EqualFold(p.secs[len(p.secs)-1].tag, tag) {
		return &Error{Pos: ln.pos, Key: "</" + tag + ">", Msg: "without matching <" + tag + "> section"}
	}
	sec := p.secs[len(p.secs)-1]
	p.secs = p.secs[:len(p.secs)-1]
	switch sec.kind {
	case secVHost:
		p.host = p.cfg.Main
	case secLocation:
		return p.finishLocation(&sec)
	case secProxy:
		return p.finishProxy(&sec)
	case secFiles:
		if sec.files.Target != "" {
			p.host.Routes = append(p.host.Routes, sec.files)
		}
	}
	return nil
}

// filesDirective reads a line of a <Files> or <FilesMatch> section:
// SetHandler "proxy:URL" makes the section a route for the files it
// names (mod_proxy's handler form, as Debian's PHP-FPM configuration
// writes it); sluice serves no files, so anything else is ignored.
func (p *apacheParser) filesDirective(s *section, ln logicalLine, name, rest string) error {
	if !strings.EqualFold(name, "SetHandler") {
		if !s.quiet {
			p.warn(ln.pos, "%s inside <%s> ignored: sluice serves no files, it only proxies those a SetHandler \"proxy:…\" names", name, s.tag)
		}
		return nil
	}
	d := &directive{pos: ln.pos, name: "SetHandler", raw: rest}
	args, err := words(rest)
	if err != nil {
		return d.fail(rest, "%v", err)
	}
	if len(args) != 1 {
		return d.fail(rest, "takes one handler name")
	}
	target, ok := strings.CutPrefix(args[0], "proxy:")
	if !ok || target == "" {
		p.warn(ln.pos, "SetHandler %s inside <%s> ignored: sluice serves no files, it only proxies them (SetHandler \"proxy:fcgi://…\")", args[0], s.tag)
		return nil
	}
	if isBalancerURL(target) {
		t, err := normalizeBalancerURL(target)
		if err != nil {
			return d.fail(target, "%v", err)
		}
		name, _, _ := splitBalancerURL(t)
		p.balancer(name, d.pos)
		s.files.Target = t
		return nil
	}
	t, err := workerURL(target, false)
	if err != nil {
		return d.fail(target, "%v", err)
	}
	s.files.Target = t
	return nil
}

type context int

const (
	ctxMain context = iota
	ctxVHost
	ctxProxy
	ctxLocation
)

var ctxNames = []string{"the main server", "<VirtualHost>", "<Proxy>", "<Location>"}

// context is where a directive sits: the innermost section that is not a
// conditional.
func (p *apacheParser) context() context {
	for i := len(p.secs) - 1; i >= 0; i-- {
		switch p.secs[i].kind {
		case secVHost:
			return ctxVHost
		case secProxy:
			return ctxProxy
		case secLocation:
			return ctxLocation
		}
	}
	return ctxMain
}

// only refuses d outside the given contexts.
func (p *apacheParser) only(d *directive, allowed ...context) error {
	ctx := p.context()
	if slices.Contains(allowed, ctx) {
		return nil
	}
	if ctx == ctxMain {
		return d.fail(d.joined(), "is only allowed inside <VirtualHost>")
	}
	return d.fail(d.joined(), "is not allowed inside %s", ctxNames[ctx])
}

func (p *apacheParser) innermost(kind secKind) *section {
	for i := len(p.secs) - 1; i >= 0; i-- {
		if p.secs[i].kind == kind {
			return &p.secs[i]
		}
	}
	return nil
}

func (p *apacheParser) location() *location {
	if p.context() != ctxLocation {
		return nil
	}
	return p.innermost(secLocation).loc
}

// markSet records that the current host wrote an inheritable setting.
func (p *apacheParser) markSet(key string) { p.markSetOn(p.host, key) }

// markSetOn records that host h has an inheritable setting of its own.
func (p *apacheParser) markSetOn(h *Host, key string) {
	if p.set[h] == nil {
		p.set[h] = map[string]bool{}
	}
	p.set[h][key] = true
}

func (p *apacheParser) warn(pos Pos, format string, a ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, pos.String()+": "+fmt.Sprintf(format, a...))
}

// balancer returns the current host's balancer name, creating it empty.
func (p *apacheParser) balancer(name string, pos Pos) *Balancer {
	if b := p.host.Balancer(name); b != nil {
		return b
	}
	b := newBalancer(name, pos)
	p.host.Balancers = append(p.host.Balancers, b)
	return b
}

func newBalancer(name string, pos Pos) *Balancer {
	return &Balancer{Pos: pos, Name: name, Members: []*Member{}, ForceRecovery: true}
}

func (p *apacheParser) finishLocation(sec *section) error {
	loc := sec.loc
	if loc.handler == "balancer-manager" {
		if loc.match {
			return &Error{Pos: sec.pos, Key: "<" + sec.tag + ">", Value: sec.arg, Msg: "a balancer-manager needs a plain <Location path>"}
		}
		m := Manager{Pos: sec.pos, Path: loc.path, Require: requireLines(loc.require), TLSOnly: loc.tlsOnly}
		if len(m.Require) == 0 {
			m.Require = nil
		}
		p.host.Managers = append(p.host.Managers, m)
		return nil
	}
	if len(loc.require) == 0 && !loc.tlsOnly {
		return nil
	}
	a := &Access{Pos: sec.pos, Location: loc.path, Match: loc.match, Require: requireLines(loc.require), TLSOnly: loc.tlsOnly}
	if loc.match {
		re, err := compileMatch(loc.path)
		if err != nil {
			return &Error{Pos: sec.pos, Key: "<" + sec.tag + ">", Value: sec.arg, Msg: err.Error()}
		}
		a.Regexp = re
	}
	p.host.Access = append(p.host.Access, a)
	return nil
}

// finishProxy keeps a <Proxy> section's Require lines and SSLRequireSSL.
func (p *apacheParser) finishProxy(sec *section) error {
	if len(sec.require) == 0 && !sec.tlsOnly {
		return nil
	}
	u, err := proxyScope(sec.arg)
	if errors.Is(err, errUnreachableScheme) {
		p.warn(sec.pos, "Require in <Proxy %s> ignored: sluice proxies to no such backend", sec.arg)
		return nil
	}
	if err != nil {
		return &Error{Pos: sec.pos, Key: "<" + sec.tag + ">", Value: sec.arg, Msg: err.Error()}
	}
	p.host.Access = append(p.host.Access, &Access{Pos: sec.pos, Proxy: u, Require: requireLines(sec.require), TLSOnly: sec.tlsOnly})
	return nil
}

// rootPath resolves a path the configuration names against Apache's
// ServerRoot, which defaults to the main file's directory.
func (p *apacheParser) rootPath(name string) string {
	f := filepath.ToSlash(name)
	if !path.IsAbs(f) {
		base := p.root
		if base == "" {
			base = p.absDir
		}
		f = path.Join(base, f)
	}
	return path.Clean(f)
}

// include reads Include / IncludeOptional targets: a file, a directory (all
// files below it) or a glob, relative to ServerRoot or the including file.
func (p *apacheParser) include(d *directive, optional bool) error {
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one path")
	}
	pat := p.rootPath(d.args[0])
	var matches []string
	if strings.ContainsAny(pat, "*?[") {
		found, err := fs.Glob(p.fsys, fsPath(pat))
		if err != nil {
			return d.fail(d.args[0], "bad wildcard: %v", err)
		}
		for _, f := range found {
			if !hiddenMatch(fsPath(pat), f) {
				matches = append(matches, "/"+f)
			}
		}
		if len(matches) == 0 && !optional {
			return d.fail(d.args[0], "no file matches (use IncludeOptional to allow that)")
		}
	} else {
		if _, err := fs.Stat(p.fsys, fsPath(pat)); err != nil {
			if optional {
				return nil
			}
			if errors.Is(err, fs.ErrNotExist) {
				return d.fail(d.args[0], "file does not exist")
			}
			return d.fail(d.args[0], "cannot read: %v", err)
		}
		matches = []string{path.Clean(pat)}
	}
	for _, m := range matches {
		if err := p.includeTree(d, m); err != nil {
			return err
		}
	}
	return nil
}

// hiddenMatch reports whether a glob match has an element starting with
// "." where the pattern's does not: Apache matches each element with
// APR_FNM_PERIOD, so "*.conf" skips an editor's ".old.conf".
func hiddenMatch(pattern, match string) bool {
	pe := strings.Split(pattern, "/")
	for i, m := range strings.Split(match, "/") {
		if strings.HasPrefix(m, ".") && !strings.HasPrefix(pe[i], ".") {
			return true
		}
	}
	return false
}

// includeTree reads one matched path; a directory contributes every regular
// file below it in name order.
func (p *apacheParser) includeTree(d *directive, abs string) error {
	info, err := fs.Stat(p.fsys, fsPath(abs))
	if err != nil {
		return d.fail(d.args[0], "cannot read %s: %v", abs, err)
	}
	if !info.IsDir() {
		return p.includeFile(d, abs, info)
	}
	return fs.WalkDir(p.fsys, fsPath(abs), func(f string, e fs.DirEntry, err error) error {
		if err != nil {
			return d.fail(d.args[0], "cannot read %s: %v", "/"+f, err)
		}
		if e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return d.fail(d.args[0], "cannot read %s: %v", "/"+f, err)
		}
		return p.includeFile(d, "/"+f, info)
	})
}

func (p *apacheParser) includeFile(d *directive, abs string, info fs.FileInfo) error {
	switch {
	case slices.Contains(p.files, abs):
		return d.fail(d.args[0], "include cycle: %s is already being read", p.display(abs))
	case len(p.files) >= maxIncludeDepth:
		return d.fail(d.args[0], "includes are nested more than %d deep", maxIncludeDepth)
	case !info.Mode().IsRegular():
		return d.fail(d.args[0], "%s is not a regular file", p.display(abs))
	case info.Size() > maxIncludeSize:
		return d.fail(d.args[0], "%s is larger than %d bytes", p.display(abs), maxIncludeSize)
	}
	src, err := fs.ReadFile(p.fsys, fsPath(abs))
	if err != nil {
		return d.fail(d.args[0], "cannot read %s: %v", p.display(abs), err)
	}
	return p.parseFile(abs, src)
}

// fsPath turns an absolute slash path into an fs.FS name.
func fsPath(abs string) string {
	if abs = strings.TrimPrefix(path.Clean(abs), "/"); abs == "" {
		return "."
	}
	return abs
}

// compileMatch compiles a ProxyPassMatch expression (RE2 syntax: no
// backreferences or lookaround, unlike Apache's PCRE).
func compileMatch(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("cannot compile regex: %w", err)
	}
	return re, nil
}

// resolve replaces each ${NAME} in a line by the value a Define line gave
// it, else by the environment variable, as httpd's ap_resolve_env does
// before a line is parsed; an unknown name stays as written and warns.
func (p *apacheParser) resolve(pos Pos, text string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(text[i+2:], '}')
		if j < 0 {
			break
		}
		name := text[i+2 : i+2+j]
		v, ok := p.vars[name]
		if !ok {
			v, ok = os.LookupEnv(name)
		}
		if !ok && !strings.Contains(name, ":") { // ${map:key} is mod_rewrite's
			p.warn(pos, "config variable ${%s} is not defined", name)
		}
		if !ok {
			v = "${" + name + "}"
		}
		b.WriteString(text[:i])
		b.WriteString(v)
		text = text[i+3+j:]
	}
	if b.Len() == 0 {
		return text
	}
	b.WriteString(text)
	return b.String()
}

// define is Define NAME [value] and UnDefine NAME: NAME counts as defined
// for <IfDefine> and its value replaces ${NAME} from the next line on.
func (p *apacheParser) define(d *directive, undefine bool) error {
	if n := len(d.args); n == 0 || n > 2 || undefine && n != 1 {
		return d.fail(d.joined(), "takes a variable name and, for Define, an optional value")
	}
	name := d.args[0]
	if strings.Contains(name, ":") {
		return d.fail(name, "variable name must not contain ':'")
	}
	if undefine {
		delete(p.defines, name)
		delete(p.vars, name)
		p.undefined[name] = true
		return nil
	}
	p.defines[name] = true
	delete(p.undefined, name)
	if len(d.args) == 2 {
		p.vars[name] = d.args[1]
	}
	return nil
}

// apacheVersion is the httpd release whose behaviour sluice reproduces
// (apache.md); <IfVersion> tests it.
const apacheVersion = "2.4.71"

// ifVersion evaluates <IfVersion [[!]op] version> as mod_version does for
// apacheVersion: op is =, ==, <, <=, >, >= (= when left out) or ~ (a
// regular expression, as is "= /re/"); missing minor or patch numbers are
// 0, so "< 2.4" is false and "2.4" alone is not 2.4.71.
func ifVersion(args []string) (bool, error) {
	op, reverse := "=", false
	if len(args) > 0 && strings.HasPrefix(args[0], "!") {
		reverse = true
		if args[0] = args[0][1:]; args[0] == "" {
			args = args[1:]
		}
	}
	switch len(args) {
	case 1:
	case 2:
		op, args = args[0], args[1:]
	default:
		return false, errors.New("takes an optional operator and a version, such as >= 2.4")
	}
	v := args[0]
	if (op == "=" || op == "==") && len(v) > 1 && strings.HasPrefix(v, "/") && strings.HasSuffix(v, "/") {
		op, v = "~", v[1:len(v)-1]
	}
	var on bool
	if op == "~" {
		re, err := regexp.Compile(v)
		if err != nil {
			return false, fmt.Errorf("cannot compile regex: %w", err)
		}
		on = re.MatchString(apacheVersion)
	} else {
		c, err := compareVersion(apacheVersion, v)
		if err != nil {
			return false, err
		}
		switch op {
		case "=", "==":
			on = c == 0
		case "<":
			on = c < 0
		case "<=":
			on = c <= 0
		case ">":
			on = c > 0
		case ">=":
			on = c >= 0
		default:
			return false, fmt.Errorf("unknown operator %q (allowed: =, ==, <, <=, >, >=, ~)", op)
		}
	}
	return on != reverse, nil
}

// compareVersion compares two major[.minor[.patch]] versions.
func compareVersion(a, b string) (int, error) {
	parse := func(s string) ([3]int, error) {
		var v [3]int
		parts := strings.Split(s, ".")
		if len(parts) > 3 {
			return v, fmt.Errorf("version %q is not major[.minor[.patch]]", s)
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || p[0] == '+' {
				return v, fmt.Errorf("version %q is not major[.minor[.patch]]", s)
			}
			v[i] = n
		}
		return v, nil
	}
	va, err := parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := parse(b)
	if err != nil {
		return 0, err
	}
	return slices.Compare(va[:], vb[:]), nil
}

// wildcardExpr is the regular expression of a <Location> path with
// wildcards, as httpd matches one (apr_fnmatch with APR_FNM_PATHNAME
// against the whole path): * any run of characters but /, ? one of them,
// [...] one of a set ([!...] or [^...] one not in it).
func wildcardExpr(pat string) string {
	var b strings.Builder
	b.WriteByte('^')
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '[':
			end := strings.IndexByte(pat[i+1:], ']')
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			set := pat[i+1 : i+1+end]
			b.WriteByte('[')
			if strings.HasPrefix(set, "!") || strings.HasPrefix(set, "^") {
				b.WriteByte('^')
				set = set[1:]
			}
			b.WriteString(strings.NewReplacer(`\`, `\\`, "[", `\[`).Replace(set))
			b.WriteByte(']')
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteByte('$')
	return b.String()
}
