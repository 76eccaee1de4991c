// Package headers is sluice's request and response header hygiene: Check
// refuses what a front proxy must not pass on (request smuggling vectors,
// bad Host values, methods a reverse proxy does not serve), and Forwarder
// strips hop-by-hop fields and adds the X-Forwarded-* and Via fields of
// mod_proxy (ProxyAddHeaders, ProxyVia, ProxyPreserveHost).
//
// Everything works in place on fasthttp headers and allocates nothing per
// request once its pooled scratch space has grown to the traffic's size.
//
// Header names are compared case-insensitively throughout: the server reads
// requests with header-name normalization disabled, so names keep the
// client's (or backend's) spelling, and that spelling is what is forwarded.
package headers
