package headers

// editor is what rebuilding needs of a fasthttp RequestHeader or
// ResponseHeader.
type editor interface {
	DelBytes(key []byte)
	AddBytesKV(key, value []byte)
	AddBytesV(key string, value []byte)
	SetBytesKV(key, value []byte)
}

// rebuild deletes every listed field and re-adds the live ones in their
// order, each merged kind once, at its first field's place. fasthttp deletes
// by name and fills the gap with its last field, hence the re-adding.
// Special fields are left alone: fasthttp keeps them apart from the list.
func rebuild(h editor, s *scratch, r *rules) {
	for i := range s.fields {
		if f := &s.fields[i]; !f.special {
			h.DelBytes(s.key(f))
		}
	}
	for i := range s.fields {
		f := &s.fields[i]
		if f.special || f.drop {
			continue
		}
		if f.kind < kindForwarding && r.merge[f.kind] {
			if s.isFirstOfKind(i) {
				h.AddBytesKV(s.key(f), s.mergedValue(f.kind))
			}
			continue
		}
		h.AddBytesKV(s.key(f), s.value(f))
	}
}

// setMergedInPlace replaces the value of the single live field of each
// merged kind, keeping its name and place.
func setMergedInPlace(h editor, s *scratch, r *rules) {
	for i := range s.fields {
		f := &s.fields[i]
		if f.kind < kindForwarding && r.merge[f.kind] && !f.drop {
			h.SetBytesKV(s.key(f), s.mergedValue(f.kind))
		}
	}
}

// appendNewMerged adds the merged kinds no field carried yet.
func appendNewMerged(h editor, s *scratch, r *rules) {
	for _, k := range [...]kind{kindXFF, kindXFH, kindXFS, kindVia} {
		if r.merge[k] && s.count[k] == 0 {
			h.AddBytesV(canonicalName(k), s.mergedValue(k))
		}
	}
}
