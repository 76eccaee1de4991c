package rewrite

import (
	"strconv"
	"testing"

	"github.com/sluiceproxy/sluice/config"
)

func benchReverse(b *testing.B, m *ReverseMap, value string) {
	v, reqPath, origin := []byte(value), []byte("/pub/x"), []byte("http://front.example.com")
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		dst, _ = m.Apply(dst[:0], v, reqPath, origin)
	}
}

func plainMap() *ReverseMap {
	return NewReverseMap([]config.ReverseRule{
		rr("/api/", "http://api.internal:8080/"),
		rr("/pub/", "http://b.example.com/app/"),
	}, nil)
}

func BenchmarkReverseMapHit(b *testing.B) {
	benchReverse(b, plainMap(), "http://B.example.com:80/app/account/login?next=%2Fhome")
}

func BenchmarkReverseMapMiss(b *testing.B) {
	benchReverse(b, plainMap(), "https://accounts.example.org/o/oauth2/auth?client_id=1")
}

func BenchmarkReverseMapBalancer8(b *testing.B) {
	members := make([]string, 8)
	for i := range members {
		members[i] = "http://10.0.0." + strconv.Itoa(i+1) + ":8080/app/"
	}
	m := NewReverseMap([]config.ReverseRule{rr("/pub/", "balancer://cluster/")},
		func(string) []string { return members })
	// The last member matches, so all eight are compared.
	benchReverse(b, m, "http://10.0.0.8:8080/app/account/login?next=%2Fhome")
}

func BenchmarkCookieMap(b *testing.B) {
	m := NewCookieMap(
		[]config.CookieRule{cr("internal.example.com", "public.example.com")},
		[]config.CookieRule{cr("/other", "/o"), cr("/app", "/pub")},
	)
	c := []byte("JSESSIONID=0123456789ABCDEF.r1; Path=/app; Domain=internal.example.com; Secure; HttpOnly; SameSite=Lax")
	reqPath := []byte("/pub/x")
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(c)))
	for b.Loop() {
		dst, _ = m.Apply(dst[:0], c, reqPath)
	}
}
