// Package admin is sluice's balancer-manager: a JSON API over the live
// balancers, the HTML page that uses it, and BalancerPersist.
//
// Reads serialize the current snapshot and the members' hot state. Every
// write is checked (token or Require rules, Host, Origin, If-Match), decoded
// strictly, applied to a copy of the balancer's config, validated by the
// config package's own code, saved to the state file when BalancerPersist
// is on, and only then made live: a new snapshot is stored, or a member's
// status flags are changed on its atomic state. Writers are serialized by
// one mutex; the request path never takes it. See docs/admin.md.
package admin
