package headers

// fasthttp keeps the non-special fields in a list it edits by name only: it
// deletes every field of a name at once, by moving the last field into the
// gap, and adds at the end. So to remove a field and keep the order, the
// fields from there on are deleted and the live ones re-added (rebuild);
// cut finds the first one that has to go, and everything before it stays.

// inList reports whether f is in fasthttp's field list when the rebuild
// starts: not a special field, and not a Connection field removed before
// (connectionInPlace).
func inList(f *field, connectionInPlace bool) bool {
	return !f.special && !(connectionInPlace && f.kind == kindConnection)
}

// cut returns the index in s.fields from which the rebuild deletes and
// re-adds the list fields, len(s.fields) when nothing has to: the first
// list field that leaves (dropped, or folded into an earlier one), or
// earlier. The fields before the cut stay in place only if none of them
// shares its exact name with a field at or after it.
//
// A Cookie line fasthttp joined (joinedCookie) is written after its list;
// when any field leaves, the cut takes it along too, so that it becomes a
// list field before the fields sluice appends, wherever the edit starts.
func (s *scratch) cut(connectionInPlace, joinedCookie bool) int {
	first, edited := len(s.fields), false
	for i := range s.fields {
		f := &s.fields[i]
		if f.special || !(f.drop || f.folded) {
			continue
		}
		edited = true
		if inList(f, connectionInPlace) {
			first = i
			break
		}
	}
	if edited && joinedCookie {
		if last := s.lastListField(); last >= 0 && string(s.key(&s.fields[last])) == "Cookie" {
			first = min(first, last)
		}
	}
	if first == len(s.fields) {
		return first
	}
	// The largest c <= first such that no list field before c has a
	// namesake at or after c; reach is the last namesake of those before c.
	cut, reach := 0, -1
	for c := 1; c <= first; c++ {
		if f := &s.fields[c-1]; inList(f, connectionInPlace) {
			reach = max(reach, s.lastNamesake(c-1, connectionInPlace))
		}
		if reach < c {
			cut = c
		}
	}
	return cut
}

// lastNamesake returns the index of the last list field with the exact
// name of fields[i], i itself if none follows.
func (s *scratch) lastNamesake(i int, connectionInPlace bool) int {
	name := s.key(&s.fields[i])
	for j := len(s.fields) - 1; j > i; j-- {
		if f := &s.fields[j]; inList(f, connectionInPlace) && string(s.key(f)) == string(name) {
			return j
		}
	}
	return i
}

// lastListField returns the index of the last non-special field, or -1.
func (s *scratch) lastListField() int {
	for i := len(s.fields) - 1; i >= 0; i-- {
		if !s.fields[i].special {
			return i
		}
	}
	return -1
}

// connectionsRemovableInPlace reports whether there are Connection fields
// and removeConnections can remove them all: it reaches a field by its exact
// name, so no two may share one.
func (s *scratch) connectionsRemovableInPlace() bool {
	found := false
	for i := range s.fields {
		if s.fields[i].kind != kindConnection {
			continue
		}
		found = true
		for j := i + 1; j < len(s.fields); j++ {
			if s.fields[j].kind == kindConnection && string(s.key(&s.fields[i])) == string(s.key(&s.fields[j])) {
				return false
			}
		}
	}
	return found
}

// movesListField reports whether a list field other than a Connection field
// lies in [from, to): removing the Connection fields in place, which moves
// the cut from from to to, pays only if it spares the rebuild such a field.
func (s *scratch) movesListField(from, to int) bool {
	for i := from; i < to; i++ {
		if f := &s.fields[i]; !f.special && f.kind != kindConnection {
			return true
		}
	}
	return false
}
