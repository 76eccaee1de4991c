package headers

// editor is what editing the field list needs of a fasthttp RequestHeader or
// ResponseHeader.
type editor interface {
	DelBytes(key []byte)
	AddBytesKV(key, value []byte)
	SetCanonical(key, value []byte)
	SetConnectionClose()
	ResetConnectionClose()
}

// removeConnections removes every Connection field, keeping the order of
// the others. fasthttp deletes a field by moving its last field into the
// gap, but ResetConnectionClose shifts the rest up when it removes a
// Connection field left with no token but "close"; so each one is emptied
// first. Browsers send "Connection: keep-alive", and this spares them the
// rebuild.
func removeConnections(h editor, s *scratch) {
	for i := range s.fields {
		if f := &s.fields[i]; f.kind == kindConnection {
			h.SetCanonical(s.key(f), nil)
		}
	}
	h.SetConnectionClose()
	h.ResetConnectionClose()
}

// rebuild deletes the list fields from o.cut on and re-adds the live ones in
// their order; each merged kind is written once, with its merged value, at
// its first field's place (set in place when that is before the cut).
// Special fields are left alone: fasthttp keeps them apart from the list.
func rebuild(h editor, s *scratch, r *rules, o *outcome) {
	for i := o.cut; i < len(s.fields); i++ {
		if f := &s.fields[i]; inList(f, o.connectionInPlace) {
			h.DelBytes(s.key(f))
		}
	}
	for i := range s.fields {
		f := &s.fields[i]
		if !inList(f, o.connectionInPlace) || f.drop || f.folded {
			continue
		}
		merged := f.kind < kindForwarding && r.merge[f.kind]
		switch {
		case i >= o.cut && merged:
			h.AddBytesKV(s.key(f), s.mergedValue(f.kind))
		case i >= o.cut:
			h.AddBytesKV(s.key(f), s.value(f))
		case merged:
			// The first field of its exact name (an earlier namesake would
			// be of the same kind), so SetCanonical finds it.
			h.SetCanonical(s.key(f), s.mergedValue(f.kind))
		}
	}
}

// appendNewMerged adds the merged kinds no field carried yet. No field of
// such a kind is left in the list, so SetCanonical appends; it is cheaper
// than AddBytesV, which copies and checks the name first.
func appendNewMerged(h editor, s *scratch, r *rules) {
	for _, k := range ownKinds {
		if r.merge[k] && s.count[k] == 0 {
			h.SetCanonical(canonicalNames[k], s.mergedValue(k))
		}
	}
}
