// Package rewrite maps backend URLs in response headers back to the
// client-facing namespace: ProxyPassReverse for Location, Content-Location,
// URI and Destination, and ProxyPassReverseCookieDomain/Path for Set-Cookie.
//
// Both maps are built once from configuration, are immutable afterwards and
// safe for concurrent use. Apply works on bytes, appends its result to a
// caller-owned dst and does not allocate when dst has room; it never retains
// its arguments.
//
// Where sluice differs from mod_proxy on purpose (see docs/compatibility.md):
//   - Scheme and host compare case-insensitively, but the path is
//     case-sensitive (RFC 3986 §6.2.2.1); httpd compares the whole prefix
//     without case and marks that FIXME.
//   - Scheme, host and port are compared as parsed parts, so a rule for
//     http://b matches neither http://b2/ nor http://b:8080/, and an explicit
//     default port (http://b:80/) equals none.
//   - When the public path ends in "/" and the remainder starts with "/",
//     one slash is dropped for every rule kind; httpd does this only for a
//     balancer rule without urlpart whose path is exactly "/".
//   - The cookie's own name=value pair is never rewritten, and every Path or
//     Domain attribute is, not only the last one.
//
// As in httpd, a URL prefix may end mid-segment: http://b/app also matches
// http://b/application. Requiring a boundary would leave such redirects
// pointing at the backend, which leaks its address.
package rewrite
