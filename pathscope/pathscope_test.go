package pathscope

import "testing"

func TestUnder(t *testing.T) {
	for _, c := range []struct {
		path, prefix string
		want         bool
	}{
		{"/foo", "/foo", true},
		{"/foo/", "/foo", true},
		{"/foo/bar", "/foo", true},
		{"/foobar", "/foo", false},
		{"/slash", "/slash/", false},
		{"/slash/x", "/slash/", true},
		{"/", "/", true},
		{"/anything", "/", true},
		{"/fo", "/foo", false},
	} {
		if got := Under([]byte(c.path), c.prefix); got != c.want {
			t.Errorf("Under(%q, %q) = %v, want %v", c.path, c.prefix, got, c.want)
		}
		if got := Under([]byte(c.path), []byte(c.prefix)); got != c.want {
			t.Errorf("Under(%q, []byte(%q)) = %v, want %v", c.path, c.prefix, got, c.want)
		}
	}
}

func TestScopeCovers(t *testing.T) {
	for _, c := range []struct {
		path  string
		match bool
		req   string
		want  bool
	}{
		{"", false, "/any", true},
		{"/app", false, "/app/x", true},
		{"/app", false, "/apple", false},
		{"^/a/[^/]*$", true, "/a/x", true},
		{"^/a/[^/]*$", true, "/a/x/y", false},
		{"\\.png$", true, "/img/x.png", true},
	} {
		s := New(c.path, c.match)
		if got := s.Covers([]byte(c.req)); got != c.want {
			t.Errorf("New(%q, %v).Covers(%q) = %v, want %v", c.path, c.match, c.req, got, c.want)
		}
	}
}

func TestCoversAllocs(t *testing.T) {
	s, re := New("/app", false), New("^/app/", true)
	path := []byte("/app/x")
	if n := testing.AllocsPerRun(100, func() { _ = s.Covers(path) || re.Covers(path) }); n != 0 {
		t.Errorf("Covers allocates %v times", n)
	}
}
