package config

import (
	"strings"

	"github.com/sluiceproxy/sluice/logformat"
)

// mod_log_config: LogFormat, CustomLog and TransferLog, into
// Host.AccessLogs.

func init() {
	for _, s := range []directiveSpec{
		{name: "LogFormat", fn: (*apacheParser).logFormat},
		{name: "CustomLog", fn: (*apacheParser).customLog},
		{name: "TransferLog", fn: (*apacheParser).transferLog},
	} {
		apacheDirectives[strings.ToLower(s.name)] = s
	}
}

// logState is what the parser keeps between log lines: the nicknames
// LogFormat defined, and the format TransferLog uses in each host (the
// last LogFormat without a nickname there, else the main server's).
type logState struct {
	nicknames map[string]string
	transfer  map[*Host]string
}

func (p *apacheParser) logFormat(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) < 1 || len(d.args) > 2 {
		return d.fail(d.joined(), "takes a format and an optional nickname")
	}
	if len(d.args) == 1 {
		// The one format may be a nickname an earlier LogFormat defined.
		format := d.args[0]
		if f, ok := p.logs.nicknames[format]; ok {
			format = f
		}
		if p.logs.transfer == nil {
			p.logs.transfer = map[*Host]string{}
		}
		p.logs.transfer[p.host] = format
		return nil
	}
	if p.logs.nicknames == nil {
		p.logs.nicknames = map[string]string{}
	}
	p.logs.nicknames[d.args[1]] = d.args[0]
	return nil
}

func (p *apacheParser) customLog(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) < 2 || len(d.args) > 3 {
		return d.fail(d.joined(), "takes a file, a format or nickname, and an optional env=")
	}
	format := d.args[1]
	if f, ok := p.logs.nicknames[format]; ok {
		format = f
	} else if _, builtin := logformat.Nicknames[format]; !builtin && !strings.Contains(format, "%") {
		return d.fail(format, "names no LogFormat (define it with LogFormat \"…\" %s before this line)", format)
	}
	l := &AccessLog{Pos: d.pos, Format: format}
	if len(d.args) == 3 {
		cond := d.args[2]
		env, ok := strings.CutPrefix(cond, "env=")
		if !ok || env == "" || env == "!" {
			return d.fail(cond, "must be env=VAR or env=!VAR (expr= conditions are not supported)")
		}
		l.Env = env
	}
	return p.addLog(d, l, d.args[0])
}

func (p *apacheParser) transferLog(d *directive) error {
	if err := p.only(d, ctxMain, ctxVHost); err != nil {
		return err
	}
	if len(d.args) != 1 {
		return d.fail(d.joined(), "takes a file")
	}
	format, ok := p.logs.transfer[p.host]
	if !ok {
		format = p.logs.transfer[p.cfg.Main]
	}
	if format == "" {
		format = "common"
	}
	return p.addLog(d, &AccessLog{Pos: d.pos, Format: format}, d.args[0])
}

// addLog gives l its file, ServerRoot-relative as in Apache, or its piped
// logger ("|rotatelogs …"), and adds it to the host. syslog is warned
// about and left out.
func (p *apacheParser) addLog(d *directive, l *AccessLog, target string) error {
	switch {
	case strings.HasPrefix(target, "syslog:"):
		p.warn(d.pos, "%s %s: syslog is not supported; this log is not written", d.name, target)
		return nil
	case strings.HasPrefix(target, "|"):
		if strings.TrimLeft(target, "|$ ") == "" {
			return d.fail(target, "names no program")
		}
		l.Path = target
	default:
		l.Path = p.rootPath(target)
	}
	p.host.AccessLogs = append(p.host.AccessLogs, l)
	return nil
}
