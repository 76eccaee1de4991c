package pool

import "testing"

// BenchmarkResponseHead is reading a typical member's response head.
func BenchmarkResponseHead(b *testing.B) {
	read := typicalReads(b)
	b.SetBytes(int64(len(typicalHead)))
	b.ReportAllocs()
	for b.Loop() {
		read()
	}
}
