package config

import (
	"os"
	"testing"
	"testing/fstest"
)

// Config loading is a cold path (startup, reload); these benchmarks keep an
// eye on it staying cheap next to a reload's other work.

func BenchmarkParseApache(b *testing.B) {
	src, err := os.ReadFile(goldenDir + "/23-every-worker-param.conf")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseApache("/b/t.conf", src, fstest.MapFS{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseYAML(b *testing.B) {
	src, err := os.ReadFile(goldenDir + "/23-every-worker-param.golden.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseYAML("t.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDump(b *testing.B) {
	cfg, err := Load(goldenDir + "/23-every-worker-param.conf")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Dump(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
