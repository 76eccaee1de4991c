// Package lb chooses a balancer member for a request, reproducing Apache
// mod_proxy_balancer: the lbset → spare → standby selection skeleton
// (select.go) with the byrequests, bytraffic and bybusyness methods as
// comparators over it, forcerecovery (recover.go), and sticky sessions
// (sticky.go, route.go).
//
// Everything here is lock-free and allocation-free per request: a pick reads
// an immutable pool.Snapshot and updates members' pool.State with atomics.
// Apache runs selection under a per-balancer mutex, so concurrent picks may
// interleave their lbstatus updates; the sums stay exact, only the order in
// which two simultaneous requests see them is unspecified.
package lb
