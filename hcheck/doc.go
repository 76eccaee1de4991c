// Package hcheck is sluice's active health checker (Apache's
// mod_proxy_hcheck): it probes balancer members with hcmethod (TCP,
// OPTIONS, HEAD, GET and their HTTP/1.1 forms), judges the answer by status
// or by a ProxyHCExpr (package hcexpr), and sets or clears the member's C
// flag after hcfails consecutive failures or hcpasses consecutive passes.
//
// One scheduler goroutine keeps the members in a heap ordered by due time
// and starts at most ProxyHCTPsize checks at once; a member whose check is
// still running is not queued again, so slow backends never pile up. Check
// connections are the checker's own, apart from the traffic pools.
//
// Each member keeps its last HistorySize probes (active checks, and the
// passive failures the request path reports through RecordPassive), so the
// admin API can say why a member is down. See docs/health.md.
package hcheck
