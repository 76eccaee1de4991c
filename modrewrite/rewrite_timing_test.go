package modrewrite

import "testing"

// BenchmarkWebSocketSplit runs the socket.io config's two rules on a
// polling request (the second rule proxies).
func BenchmarkWebSocketSplit(b *testing.B) {
	var t testing.T
	rules := NewRules([]*Rule{
		compile(&t, "/(.*)", "balancer://nodes_ws/$1", "P,L", condSpec{"%{HTTP:Upgrade}", "=websocket", "NC"}),
		compile(&t, "/(.*)", "balancer://nodes_polling/$1", "P,L", condSpec{"%{HTTP:Upgrade}", "!=websocket", "NC"}),
	})
	r := request("/socket.io/", "EIO=4&transport=polling", "Cookie", "SERVERID=sticky.john")
	st := &State{}
	b.ReportAllocs()
	for b.Loop() {
		st.Reset(r.Path, r.Query)
		rules.Apply(st, r)
		if st.Action != Proxy {
			b.Fatal("not proxied")
		}
	}
}
