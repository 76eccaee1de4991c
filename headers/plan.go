package headers

// rules are what one call to Request or Response asks of the hop-by-hop
// and forwarding logic.
type rules struct {
	upgrade   bool // keep Upgrade (a tunnelled request or its 101)
	untrusted bool // drop client-asserted forwarding fields
	dropVia   bool // ProxyVia Block, request side
	// dropExpect: a request's Expect was answered by the proxy (fasthttp
	// sends 100 Continue before the handler runs); the member must not be
	// asked again.
	dropExpect bool
	// joinedCookie: the header may hold a Cookie line fasthttp joined (a
	// request after a cookie lookup); see cut.
	joinedCookie bool
	// merge[k] is true when sluice appends its own value to the fields of
	// kind k; only kindXFF, kindXFH, kindXFS and kindVia are ever set.
	merge [kindForwarding]bool
}

// outcome is what mark decided beyond the per-field flags.
type outcome struct {
	teTrailers bool // the client accepts trailers: send "TE: trailers"
	// connectionInPlace: the Connection fields are removed in place
	// (removeConnections) instead of by the rebuild.
	connectionInPlace bool
	// cut is the index in s.fields from which the field list is rebuilt:
	// every list field from there on is deleted and the live ones re-added.
	// It is len(s.fields) when no field has to leave the list.
	cut int
}

// mark decides, for every field in s, whether it is dropped, and counts the
// live fields sluice merges its own values into. Connection and the fields it
// names go first, so a client cannot make sluice drop what it adds itself
// (CVE-2022-31813): only fields present before sluice's are ever dropped.
// Then it decides how the field list is edited (cut.go).
func mark(s *scratch, r *rules, protected func([]byte) bool) outcome {
	o := outcome{teTrailers: markFields(s, r, protected)}
	o.cut = s.cut(false, r.joinedCookie)
	if s.connectionsRemovableInPlace() {
		if c := s.cut(true, r.joinedCookie); s.movesListField(o.cut, c) {
			o.connectionInPlace, o.cut = true, c
		}
	}
	return o
}

// markFields sets the drop and folded flags of every field in s and
// reports whether the client accepts trailers.
func markFields(s *scratch, r *rules, protected func([]byte) bool) (teTrailers bool) {
	s.collectConnectionNames()
	for i := range s.fields {
		f := &s.fields[i]
		switch f.kind {
		case kindConnection, kindHop, kindAlias:
			f.drop = true
		case kindTE:
			f.drop = true
			teTrailers = teTrailers || HasToken(s.value(f), "trailers")
		case kindUpgrade:
			f.drop = !r.upgrade
		case kindXFF, kindXFH, kindXFS, kindForwarding:
			f.drop = r.untrusted
		case kindVia:
			f.drop = r.dropVia
		case kindExpect:
			f.drop = r.dropExpect
		}
		if !f.drop && len(s.named) > 0 && !(f.kind == kindUpgrade && r.upgrade) && !protected(s.key(f)) {
			f.drop = s.namedByConnection(s.key(f))
		}
		if !f.drop && f.kind < kindForwarding && r.merge[f.kind] {
			s.count[f.kind]++
			s.merging = true
			f.folded = s.count[f.kind] > 1
		}
	}
	return teTrailers
}

// collectConnectionNames records the elements of every Connection field,
// once, so that matching a field name against them is a length check and a
// compare per element, however many fields there are. Names of fields that
// go whatever Connection says ("keep-alive", "Upgrade") are left out: most
// Connection fields name nothing else, and mark then skips the matching.
func (s *scratch) collectConnectionNames() {
	if s.noConnection {
		return
	}
	for i := range s.fields {
		f := &s.fields[i]
		if f.kind != kindConnection {
			continue
		}
		for j := f.vs; j < f.ve; j++ {
			end := j
			for end < f.ve && s.buf[end] != ',' {
				end++
			}
			start, stop := j, end
			for start < stop && isOWS(s.buf[start]) {
				start++
			}
			for stop > start && isOWS(s.buf[stop-1]) {
				stop--
			}
			if start < stop && !hopByHop(classify(s.buf[start:stop])) {
				s.named = append(s.named, span{start, stop})
			}
			j = end
		}
	}
}

// hopByHop reports the kinds mark drops, or keeps for a tunnel, whatever
// a Connection field names.
func hopByHop(k kind) bool {
	return k == kindConnection || k == kindHop || k == kindTE || k == kindUpgrade || k == kindAlias
}

// namedByConnection reports whether a Connection field lists name.
func (s *scratch) namedByConnection(name []byte) bool {
	for _, sp := range s.named {
		if sp.end-sp.start == len(name) && equalFoldBytes(s.buf[sp.start:sp.end], name) {
			return true
		}
	}
	return false
}

// joinLive starts a merged value of kind k in s.val: the live values joined
// by ", ", each followed by ", " for the value the caller appends next, as
// Apache's apr_table_mergen does. endMerge closes it.
func (s *scratch) joinLive(k kind) (start int) {
	start = len(s.val)
	if s.count[k] == 0 { // markFields counted no live field of a merged kind
		return start
	}
	for i := range s.fields {
		f := &s.fields[i]
		if f.kind != k || f.drop {
			continue
		}
		if v := s.value(f); len(v) > 0 {
			s.val = append(s.val, v...)
			s.val = append(s.val, ", "...)
		}
	}
	return start
}

func (s *scratch) endMerge(k kind, start int) { s.merged[k] = span{start, len(s.val)} }

func (s *scratch) mergedValue(k kind) []byte {
	return s.val[s.merged[k].start:s.merged[k].end]
}

// canonicalNames are the names sluice writes for the field kinds it adds.
var canonicalNames = [kindForwarding][]byte{
	kindXFF: []byte("X-Forwarded-For"),
	kindXFH: []byte("X-Forwarded-Host"),
	kindXFS: []byte("X-Forwarded-Server"),
	kindVia: []byte("Via"),
}

// ownFieldStarts are canonicalNames with ": ", as a field line starts.
var ownFieldStarts = func() (t [kindForwarding][]byte) {
	for _, k := range ownKinds {
		t[k] = append(append([]byte(nil), canonicalNames[k]...), ": "...)
	}
	return t
}()
