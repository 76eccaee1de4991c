package hcexpr

import (
	"strings"
	"testing"
)

func BenchmarkEval(b *testing.B) {
	for _, bm := range []struct{ name, src, body string }{
		{"status", `%{REQUEST_STATUS} =~ /^[234]/`, ""},
		{"numeric", `%{REQUEST_STATUS} -ge 200 && %{REQUEST_STATUS} -lt 400`, ""},
		{"body4k", `hc('body') !~ /Under maintenance/`, strings.Repeat("all good. ", 400)},
	} {
		e, err := Parse(bm.src)
		if err != nil {
			b.Fatal(err)
		}
		in := Input{Status: 200, Body: []byte(bm.body)}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, _ := e.Eval(in); !ok {
					b.Fatal("false")
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(`%{REQUEST_STATUS} -in {'200', '204'} && hc('body') =~ /ready/i`); err != nil {
			b.Fatal(err)
		}
	}
}
