package config

import (
	"slices"
	"strings"
)

// sslState is what one host's mod_ssl directives said; finishSSL turns it
// into the host's TLS, a vhost taking the main server's value for each
// directive it does not write (mod_ssl's merge).
type sslState struct {
	engine    *bool
	enginePos Pos
	certs     []CertPair // their KeyFile set from keys in finishSSL
	keys      []string
	chain     string
	versions  *[2]string // min, max from SSLProtocol
	verify    string
	caFile    string
	proxy     proxySSL
}

// proxySSL is what the SSLProxy* directives said.
type proxySSL struct {
	pos       *Pos // the first of them
	verify    string
	caFile    string
	checkName *bool
	checkCN   *bool
	client    string
	versions  *[2]string
}

// ignoredSSL are mod_ssl directives (and mod_http2's Protocols, which TLS
// configs carry) that sluice accepts without acting on them, each with the
// reason given in the warning.
var ignoredSSL = map[string]string{
	"SSLCipherSuite":                      "Go's TLS offers its own set of secure cipher suites",
	"SSLHonorCipherOrder":                 "Go's TLS orders cipher suites itself",
	"SSLCompression":                      "TLS compression is never offered (CRIME)",
	"SSLSessionTickets":                   "Go's TLS issues session tickets with keys it rotates",
	"SSLSessionCache":                     "Go's TLS resumes sessions by tickets",
	"SSLSessionCacheTimeout":              "Go's TLS resumes sessions by tickets",
	"SSLUseStapling":                      "OCSP stapling is not supported",
	"SSLStaplingCache":                    "OCSP stapling is not supported",
	"SSLStaplingResponderTimeout":         "OCSP stapling is not supported",
	"SSLStaplingReturnResponderErrors":    "OCSP stapling is not supported",
	"SSLStaplingFakeTryLater":             "OCSP stapling is not supported",
	"SSLOpenSSLConfCmd":                   "sluice does not use OpenSSL",
	"SSLRandomSeed":                       "Go's TLS seeds itself from the kernel",
	"SSLPassPhraseDialog":                 "keys must be unencrypted PEM files",
	"SSLCryptoDevice":                     "sluice does not use OpenSSL engines",
	"SSLMutex":                            "not needed",
	"SSLStrictSNIVHostCheck":              "a request whose Host needs other client verification than its handshake's gets 421",
	"SSLInsecureRenegotiation":            "renegotiation is never offered",
	"SSLOptions":                          "SSL environment variables are not exported",
	"SSLVerifyDepth":                      "the client's chain is verified to any depth below SSLCACertificateFile",
	"SSLProxyCipherSuite":                 "Go's TLS offers its own set of secure cipher suites",
	"SSLProxyVerifyDepth":                 "a member's chain is verified to any depth",
	"SSLProxyCheckPeerExpire":             "an expired member certificate is always refused where the chain is verified",
	"SSLProxyCACertificatePath":           "use SSLProxyCACertificateFile",
	"SSLProxyCARevocationFile":            "revocation lists are not checked",
	"SSLProxyCARevocationPath":            "revocation lists are not checked",
	"SSLProxyCARevocationCheck":           "revocation lists are not checked",
	"SSLProxyMachineCertificatePath":      "use SSLProxyMachineCertificateFile",
	"SSLProxyMachineCertificateChainFile": "the chain goes in SSLProxyMachineCertificateFile",
	"Protocols":                           "sluice speaks HTTP/1.1 (ALPN http/1.1), not HTTP/2",
}

func init() {
	for _, s := range []directiveSpec{
		{name: "SSLEngine", fn: (*apacheParser).sslEngine},
		{name: "SSLCertificateFile", fn: func(p *apacheParser, d *directive) error {
			return p.sslFile(d, func(s *sslState, f string) { s.certs = append(s.certs, CertPair{Pos: d.pos, CertFile: f}) })
		}},
		{name: "SSLCertificateKeyFile", fn: func(p *apacheParser, d *directive) error {
			return p.sslFile(d, func(s *sslState, f string) { s.keys = append(s.keys, f) })
		}},
		{name: "SSLCertificateChainFile", fn: func(p *apacheParser, d *directive) error {
			return p.sslFile(d, func(s *sslState, f string) { s.chain = f })
		}},
		{name: "SSLCACertificateFile", fn: func(p *apacheParser, d *directive) error {
			return p.sslFile(d, func(s *sslState, f string) { s.caFile = f })
		}},
		{name: "SSLProtocol", fn: (*apacheParser).sslProtocol},
		{name: "SSLVerifyClient", fn: (*apacheParser).sslVerifyClient},
		{name: "SSLProxyVerify", fn: (*apacheParser).sslProxyVerify},
		{name: "SSLProxyCACertificateFile", fn: func(p *apacheParser, d *directive) error {
			return p.sslProxyFile(d, func(s *proxySSL, f string) { s.caFile = f })
		}},
		{name: "SSLProxyMachineCertificateFile", fn: func(p *apacheParser, d *directive) error {
			return p.sslProxyFile(d, func(s *proxySSL, f string) { s.client = f })
		}},
		{name: "SSLProxyCheckPeerName", fn: func(p *apacheParser, d *directive) error {
			return p.sslProxyFlag(d, func(s *proxySSL, on bool) { s.checkName = &on })
		}},
		{name: "SSLProxyCheckPeerCN", fn: func(p *apacheParser, d *directive) error {
			return p.sslProxyFlag(d, func(s *proxySSL, on bool) { s.checkCN = &on })
		}},
		{name: "SSLProxyProtocol", fn: (*apacheParser).sslProxyProtocol},
		{name: "SSLRequireSSL", fn: (*apacheParser).sslRequireSSL},
		{name: "SSLProxyEngine", fn: func(p *apacheParser, d *directive) error {
			// On is what sluice does anyway: no warning for it.
			if on, err := d.onOff(); err != nil || !on {
				p.warn(d.pos, "SSLProxyEngine %s ignored: sluice speaks TLS to every https:// and wss:// member", d.joined())
			}
			return nil
		}},
		{name: "SSLRequire", fn: func(p *apacheParser, d *directive) error {
			return d.fail(d.joined(), "is not supported: ignoring it would open the path (write Require lines, and SSLRequireSSL)")
		}},
		{name: "SSLCARevocationFile", fn: refuseRevocation},
		{name: "SSLCARevocationPath", fn: refuseRevocation},
		{name: "SSLCARevocationCheck", fn: func(p *apacheParser, d *directive) error {
			if len(d.args) == 1 && strings.EqualFold(d.args[0], "none") {
				return nil
			}
			return refuseRevocation(p, d)
		}},
	} {
		apacheDirectives[strings.ToLower(s.name)] = s
	}
	for name, why := range ignoredSSL {
		apacheDirectives[strings.ToLower(name)] = directiveSpec{name: name, fn: func(p *apacheParser, d *directive) error {
			p.warn(d.pos, "%s ignored: %s", d.name, why)
			return nil
		}}
	}
}

// ssl is the current host's mod_ssl state.
func (p *apacheParser) ssl() *sslState {
	s := p.ssls[p.host]
	if s == nil {
		s = &sslState{}
		p.ssls[p.host] = s
	}
	return s
}

func (p *apacheParser) sslEngine(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) == 1 && strings.EqualFold(d.args[0], "optional") {
		return d.fail(d.args[0], "is not supported (the RFC 2817 upgrade to TLS): use on, with a listener of its own")
	}
	on, err := d.onOff()
	if err != nil {
		return err
	}
	s := p.ssl()
	s.engine, s.enginePos = &on, d.pos
	return nil
}

// sslFile reads a directive naming one file, relative to ServerRoot.
func (p *apacheParser) sslFile(d *directive, set func(s *sslState, file string)) error {
	if err := p.sslScope(d); err != nil {
		return err
	}
	f, err := p.fileArg(d)
	if err != nil {
		return err
	}
	set(p.ssl(), f)
	return nil
}

// sslProxyFile is sslFile for an SSLProxy* directive.
func (p *apacheParser) sslProxyFile(d *directive, set func(s *proxySSL, file string)) error {
	ps, err := p.proxyScope(d)
	if err != nil {
		return err
	}
	f, err := p.fileArg(d)
	if err != nil {
		return err
	}
	set(ps, f)
	return nil
}

func (p *apacheParser) fileArg(d *directive) (string, error) {
	if len(d.args) != 1 {
		return "", d.fail(d.joined(), "takes one file")
	}
	return p.rootPath(d.args[0]), nil
}

// sslScope refuses a host's mod_ssl directive outside the server and
// <VirtualHost>.
func (p *apacheParser) sslScope(d *directive) error {
	if ctx := p.context(); ctx != ctxMain && ctx != ctxVHost {
		return d.fail(d.joined(), "inside %s is not supported: set it for the server or the <VirtualHost>", ctxNames[ctx])
	}
	return nil
}

// proxyScope is where an SSLProxy* directive goes: the current host's
// settings, or inside <Proxy balancer://name> that balancer's (Apache
// 2.4.30's per-worker SSL settings); elsewhere it is refused.
func (p *apacheParser) proxyScope(d *directive) (*proxySSL, error) {
	var ps *proxySSL
	switch p.context() {
	case ctxMain, ctxVHost:
		ps = &p.ssl().proxy
	case ctxProxy:
		bal := p.innermost(secProxy).bal
		if bal == nil {
			return nil, d.fail(d.joined(), "inside <Proxy URL> is not supported: set it for the server, the <VirtualHost> or a <Proxy balancer://…>")
		}
		if ps = p.balSSL[bal]; ps == nil {
			ps = &proxySSL{}
			p.balSSL[bal] = ps
		}
	default:
		return nil, d.fail(d.joined(), "inside %s is not supported: set it for the server, the <VirtualHost> or a <Proxy balancer://…>", ctxNames[p.context()])
	}
	if ps.pos == nil {
		ps.pos = &d.pos
	}
	return ps, nil
}

func (p *apacheParser) sslProtocol(d *directive) error {
	if err := p.sslScope(d); err != nil {
		return err
	}
	var err error
	p.ssl().versions, err = protocols(d)
	return err
}

func (p *apacheParser) sslProxyProtocol(d *directive) error {
	ps, err := p.proxyScope(d)
	if err != nil {
		return err
	}
	ps.versions, err = protocols(d)
	return err
}

// protocols reads SSLProtocol's and SSLProxyProtocol's list: a bare name
// sets it, +name adds, -name removes; "all" is every version. Of them,
// sluice offers TLS 1.2 and 1.3: the range it returns is of those.
func protocols(d *directive) (*[2]string, error) {
	if len(d.args) == 0 {
		return nil, d.fail("", "takes protocols, such as all -SSLv3 -TLSv1 -TLSv1.1")
	}
	all := []string{"sslv3", "tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"}
	var on []string
	for _, a := range d.args {
		op, name := byte(0), strings.ToLower(a)
		if name != "" && (name[0] == '+' || name[0] == '-') {
			op, name = name[0], name[1:]
		}
		names := []string{name}
		if name == "all" {
			names = all
		} else if !slices.Contains(all, name) {
			return nil, d.fail(a, "unknown protocol (allowed: all, SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)")
		}
		switch op {
		case 0:
			on = slices.Clone(names)
		case '+':
			on = append(on, names...)
		case '-':
			on = slices.DeleteFunc(on, func(n string) bool { return slices.Contains(names, n) })
		}
	}
	has12, has13 := slices.Contains(on, "tlsv1.2"), slices.Contains(on, "tlsv1.3")
	if !has12 && !has13 {
		return nil, d.fail(d.joined(), "leaves neither TLSv1.2 nor TLSv1.3, the versions sluice offers (older ones are deprecated, RFC 8996)")
	}
	v := [2]string{"1.2", "1.3"}
	if !has12 {
		v[0] = "1.3"
	}
	if !has13 {
		v[1] = "1.2"
	}
	return &v, nil
}

// sslProxyVerify reads SSLProxyVerify: optional reads as require (a
// member always presents a certificate), optional_no_ca as none.
func (p *apacheParser) sslProxyVerify(d *directive) error {
	ps, err := p.proxyScope(d)
	if err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one of none, optional, require, optional_no_ca")
	}
	switch strings.ToLower(d.args[0]) {
	case VerifyNone, VerifyOptionalNoCA:
		ps.verify = ProxyVerifyNone
	case VerifyRequire, VerifyOptional:
		ps.verify = ProxyVerifyRequire
	default:
		return d.fail(d.args[0], "must be one of none, optional, require, optional_no_ca")
	}
	return nil
}

func (p *apacheParser) sslProxyFlag(d *directive, set func(s *proxySSL, on bool)) error {
	ps, err := p.proxyScope(d)
	if err != nil {
		return err
	}
	on, err := d.onOff()
	if err != nil {
		return err
	}
	set(ps, on)
	return nil
}

func (p *apacheParser) sslVerifyClient(d *directive) error {
	if p.context() == ctxLocation || p.context() == ctxProxy {
		return d.fail(d.joined(), "inside %s is not supported (it needs renegotiation): set it for the whole <VirtualHost>", ctxNames[p.context()])
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes one of none, optional, require, optional_no_ca")
	}
	mode := strings.ToLower(d.args[0])
	if !slices.Contains(verifyModes, mode) {
		return d.fail(d.args[0], "must be one of none, optional, require, optional_no_ca")
	}
	p.ssl().verify = mode
	return nil
}

// finishSSL gives each host with SSLEngine on (its own or the main
// server's) its TLS, each directive it does not write taken from the main
// server.
func (p *apacheParser) finishSSL() {
	main := p.ssls[p.cfg.Main]
	if main == nil {
		main = &sslState{}
	}
	for _, h := range p.cfg.hosts() {
		s := p.ssls[h]
		if s == nil {
			s = &sslState{}
		}
		if h != p.cfg.Main {
			s = s.inherit(main)
			// resolved here, directive by directive
			p.markSetOn(h, "tls")
			p.markSetOn(h, "proxy_tls")
		}
		h.ProxyTLS = s.proxy.tls()
		for _, b := range h.Balancers {
			if bs := p.balSSL[b]; bs != nil {
				b.ProxyTLS = bs.inherit(s.proxy).tls()
			}
		}
		if s.engine == nil || !*s.engine {
			continue
		}
		t := &TLS{Pos: s.enginePos, ChainFile: s.chain, VerifyClient: s.verify, ClientCAFile: s.caFile}
		for i, c := range s.certs {
			if i < len(s.keys) {
				c.KeyFile = s.keys[i]
			}
			t.Certs = append(t.Certs, c)
		}
		if s.versions != nil {
			t.MinVersion, t.MaxVersion = s.versions[0], s.versions[1]
		}
		h.TLS = t
	}
}

// inherit fills what s does not set from main.
func (s *sslState) inherit(main *sslState) *sslState {
	out := *s
	if out.engine == nil {
		out.engine, out.enginePos = main.engine, main.enginePos
	}
	if len(out.certs) == 0 {
		out.certs, out.keys = main.certs, main.keys
	}
	if out.chain == "" {
		out.chain = main.chain
	}
	if out.versions == nil {
		out.versions = main.versions
	}
	if out.verify == "" {
		out.verify = main.verify
	}
	if out.caFile == "" {
		out.caFile = main.caFile
	}
	out.proxy = out.proxy.inherit(main.proxy)
	return &out
}

func (s proxySSL) inherit(main proxySSL) proxySSL {
	if s.pos == nil {
		s.pos = main.pos
	}
	if s.verify == "" {
		s.verify = main.verify
	}
	if s.caFile == "" {
		s.caFile = main.caFile
	}
	if s.checkName == nil {
		s.checkName = main.checkName
	}
	if s.checkCN == nil {
		s.checkCN = main.checkCN
	}
	if s.client == "" {
		s.client = main.client
	}
	if s.versions == nil {
		s.versions = main.versions
	}
	return s
}

// tls is the ProxyTLS the SSLProxy* directives make, nil without any.
// SSLProxyCheckPeerCN off turns the name check off unless
// SSLProxyCheckPeerName says otherwise.
func (s proxySSL) tls() *ProxyTLS {
	if s.pos == nil {
		return nil
	}
	t := &ProxyTLS{Pos: *s.pos, Verify: s.verify, CAFile: s.caFile, CheckPeerName: s.checkName, ClientCertFile: s.client}
	if t.CheckPeerName == nil && s.checkCN != nil && !*s.checkCN {
		t.CheckPeerName = s.checkCN
	}
	if s.versions != nil {
		t.MinVersion, t.MaxVersion = s.versions[0], s.versions[1]
	}
	return t
}

// sslRequireSSL reads SSLRequireSSL: inside <Location> or <Proxy>, the
// section's requests must come over TLS.
func (p *apacheParser) sslRequireSSL(d *directive) error {
	if len(d.args) != 0 {
		return d.fail(d.joined(), "takes no argument")
	}
	switch p.context() {
	case ctxLocation:
		p.location().tlsOnly = true
	case ctxProxy:
		p.innermost(secProxy).tlsOnly = true
	default:
		return d.fail("", "is only allowed inside <Location>, <LocationMatch> or <Proxy>")
	}
	return nil
}

// refuseRevocation refuses client certificate revocation lists: sluice
// does not check them, and ignoring one would admit revoked certificates.
func refuseRevocation(_ *apacheParser, d *directive) error {
	return d.fail(d.joined(), "is not supported: sluice checks no revocation list, and would admit the certificates it revokes")
}
