package pool

import (
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/config"
)

func TestNewMemberParsesURL(t *testing.T) {
	reg := NewRegistry()
	cases := []struct {
		url, addr, host, path string
		tls                   bool
	}{
		{"http://b1:8080", "b1:8080", "b1:8080", "", false},
		{"http://h/app/", "h:80", "h", "/app/", false},
		{"https://secure.example.com", "secure.example.com:443", "secure.example.com", "", true},
		{"https://secure.example.com:8443/x", "secure.example.com:8443", "secure.example.com:8443", "/x", true},
		{"ws://sock:9000/ws", "sock:9000", "sock:9000", "/ws", false},
		{"http://[::1]:8080", "[::1]:8080", "[::1]:8080", "", false},
		{"http://[::1]", "[::1]:80", "[::1]", "", false},
		{"fcgi://php", "php:8000", "php", "", false},
		{"fcgi://php:9000/srv/www", "php:9000", "php:9000", "/srv/www", false},
		{"unix:/run/php.sock|fcgi://pool-1/", "/run/php.sock", "pool-1", "/", false},
		{"ajp://tomcat/app", "tomcat:8009", "tomcat", "/app", false},
	}
	for _, c := range cases {
		m, err := NewMember(reg, "b", c.url, config.WorkerParams{}, false)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if m.Addr != c.addr || m.HostHeader != c.host || m.Path != c.path || m.TLS != c.tls {
			t.Errorf("%s: got addr %q host %q path %q tls %v", c.url, m.Addr, m.HostHeader, m.Path, m.TLS)
		}
	}
	for _, bad := range []string{"scgi://h:4000", "http://", "unix:run.sock|fcgi://h/"} {
		if _, err := NewMember(reg, "b", bad, config.WorkerParams{}, false); err == nil {
			t.Errorf("%s: expected an error", bad)
		}
	}
}

// TestNewMemberLoadFactorRounds keeps lbfactor at the nearest 1/100, so a
// loadfactor the admin shows and persists (lbfactor/100) reads back the
// same: 1.13 is 112.99999999999999 hundredths, which truncated to 112.
func TestNewMemberLoadFactorRounds(t *testing.T) {
	reg := NewRegistry()
	for _, c := range []struct {
		lf   float64
		want int64
	}{{1.13, 113}, {1.131, 113}, {1.138, 114}, {100, 10000}} {
		m, err := NewMember(reg, "b", "http://h", config.WorkerParams{LoadFactor: c.lf}, false)
		if err != nil {
			t.Fatal(err)
		}
		if m.LBFactor != c.want {
			t.Errorf("loadfactor %v: lbfactor = %d, want %d", c.lf, m.LBFactor, c.want)
		}
	}
	for n := int64(100); n <= 10000; n++ {
		m, err := NewMember(reg, "b", "http://h", config.WorkerParams{LoadFactor: float64(n) / 100}, false)
		if err != nil {
			t.Fatal(err)
		}
		if m.LBFactor != n {
			t.Fatalf("loadfactor %v read back as lbfactor %d, want %d", float64(n)/100, m.LBFactor, n)
		}
	}
}

func TestNewMemberWeightsAndFlags(t *testing.T) {
	reg := NewRegistry()
	m, err := NewMember(reg, "b", "http://h", config.WorkerParams{LoadFactor: 2.25, Status: "+H-E"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.LBFactor != 225 {
		t.Errorf("lbfactor = %d, want 225", m.LBFactor)
	}
	if got := m.State.Flags().String(); got != "Init Stby Ok " {
		t.Errorf("flags = %q", got)
	}
	if m.Retry != DefaultRetry {
		t.Errorf("retry = %v", m.Retry)
	}
	d, _ := NewMember(reg, "", "http://direct", config.WorkerParams{Retry: config.Duration(0), RetrySet: true}, true)
	if !d.State.Flags().Has(FlagIgnoreErrors) || d.Retry != 0 {
		t.Errorf("direct worker: flags %q retry %v", d.State.Flags(), d.Retry)
	}
	if _, err := NewMember(reg, "b", "http://x", config.WorkerParams{Status: "+Z"}, false); err == nil {
		t.Error("unknown status letter accepted")
	}
}

func TestStateSurvivesRebuild(t *testing.T) {
	reg := NewRegistry()
	p := config.WorkerParams{}
	m1, _ := NewMember(reg, "b", "http://h", p, false)
	m1.State.Elected.Add(7)
	m1.State.SetFlags(FlagDisabled) // an admin change
	m2, _ := NewMember(reg, "b", "http://h", p, false)
	if m2.State != m1.State || m2.State.Elected.Load() != 7 || !m2.State.Flags().Has(FlagDisabled) {
		t.Fatal("state not kept across an unchanged rebuild")
	}
	// A changed configured status is applied.
	p.Status = "+H"
	m3, _ := NewMember(reg, "b", "http://h", p, false)
	if got := m3.State.Flags(); got != FlagInit|FlagHotStandby {
		t.Errorf("flags after config change = %q", got)
	}
	reg.Retain(map[string]struct{}{})
	m4, _ := NewMember(reg, "b", "http://h", p, false)
	if m4.State == m1.State {
		t.Error("Retain kept a dropped state")
	}
}

func TestApplyStatus(t *testing.T) {
	cases := []struct {
		start Flags
		s     string
		want  Flags
	}{
		{FlagInit, "+H", FlagInit | FlagHotStandby},
		{FlagInit | FlagError, "-E", FlagInit},
		{FlagInit, "S-E", FlagInit | FlagStopped},
		{FlagInit | FlagDisabled | FlagError, "-DE", FlagInit},
		{FlagInit, "+d", FlagInit | FlagDisabled},
	}
	for _, c := range cases {
		got, _, ok := ApplyStatus(c.start, c.s)
		if !ok || got != c.want {
			t.Errorf("ApplyStatus(%q, %q) = %q, %v", c.start, c.s, got, ok)
		}
	}
	if _, bad, ok := ApplyStatus(FlagInit, "+X"); ok || bad != 'X' {
		t.Errorf("unknown letter: bad %q ok %v", bad, ok)
	}
}

func TestStateRetry(t *testing.T) {
	var s State
	s.StoreFlags(FlagInit)
	t0 := time.Unix(1000, 0)
	if marked, entered := s.MarkError(t0); !marked || !entered || s.Usable() {
		t.Fatal("MarkError did not take the member out")
	}
	if marked, entered := s.MarkError(t0); !marked || entered {
		t.Fatalf("MarkError again: marked %v, entered %v; want true, false", marked, entered)
	}
	if s.Retry(t0.Add(60*time.Second), 60*time.Second) {
		t.Error("retried at exactly retry; Apache needs strictly after")
	}
	if !s.Retry(t0.Add(60*time.Second+1), 60*time.Second) || !s.Usable() || s.Retries.Load() != 1 {
		t.Error("not retried after retry elapsed")
	}
	s.StoreFlags(FlagInit | FlagStopped | FlagError)
	if s.Retry(t0.Add(time.Hour), 0) {
		t.Error("S must never be retried")
	}
	s.StoreFlags(FlagInit | FlagIgnoreErrors)
	if marked, entered := s.MarkError(t0); marked || entered || !s.Usable() {
		t.Error("I member entered E")
	}
	s.ErrorTime.Store(5)
	s.Retries.Store(3)
	s.MarkConnected()
	if s.ErrorTime.Load() != 0 || s.Retries.Load() != 0 {
		t.Error("MarkConnected did not reset error_time and retries")
	}
}

func TestSnapshotMaxAttempts(t *testing.T) {
	reg := NewRegistry()
	one := &config.Balancer{Name: "one", Members: []*config.Member{{URL: "http://a"}}}
	three := &config.Balancer{Name: "three", Members: []*config.Member{{URL: "http://a"}, {URL: "http://b"}, {URL: "http://c"}}}
	two := 2
	set := &config.Balancer{Name: "set", MaxAttempts: &two, Members: three.Members}
	for _, c := range []struct {
		b    *config.Balancer
		want int
	}{{one, 0}, {three, 2}, {set, 2}} {
		s, err := NewSnapshot(reg, c.b)
		if err != nil {
			t.Fatal(err)
		}
		if s.MaxAttempts != c.want {
			t.Errorf("%s: maxattempts %d, want %d", c.b.Name, s.MaxAttempts, c.want)
		}
		for i, m := range s.Members {
			if m.Index != i || s.Names[i] != m.Name {
				t.Errorf("%s: member %d index %d name %q", c.b.Name, i, m.Index, s.Names[i])
			}
		}
	}
}

func TestStateLogDue(t *testing.T) {
	var s State
	t0 := time.Unix(1000, 0)
	if !s.LogDue(t0, time.Minute) {
		t.Fatal("the first error not due")
	}
	if s.LogDue(t0.Add(59*time.Second), time.Minute) {
		t.Error("a second error within the minute due")
	}
	if !s.LogDue(t0.Add(time.Minute), time.Minute) || s.LogDue(t0.Add(time.Minute), time.Minute) {
		t.Error("one error due a minute on, and only one")
	}
}
