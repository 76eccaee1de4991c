package pool

import "strings"

// Flags are a member's status bits, with Apache's values and meanings
// (apache.md §5). They live in State and change atomically.
type Flags uint32

// Status bits in Apache's display order.
const (
	FlagInit         Flags = 0x0001 // O: initialised; required to be usable
	FlagIgnoreErrors Flags = 0x0002 // I: never enters E
	FlagDrain        Flags = 0x0004 // N: never elected by the lbmethod; still takes sticky traffic
	FlagGeneric      Flags = 0x0008 // G: internal
	FlagShutdown     Flags = 0x0010 // U: shutting down
	FlagDisabled     Flags = 0x0020 // D: disabled by the admin
	FlagStopped      Flags = 0x0040 // S: stopped; never auto-retried
	FlagError        Flags = 0x0080 // E: in error until retry elapses
	FlagHotStandby   Flags = 0x0100 // H: used only when nothing else in its lbset is usable
	FlagFree         Flags = 0x0200 // F: internal
	FlagHCFail       Flags = 0x0400 // C: failed its health check
	FlagHotSpare     Flags = 0x0800 // R: replaces unusable members one for one
)

// NotUsable are the bits that keep a member out of selection.
const NotUsable = FlagShutdown | FlagDisabled | FlagStopped | FlagError | FlagHCFail

var flagTable = [...]struct {
	bit     Flags
	letter  byte
	display string
}{
	{FlagInit, 'O', "Init "},
	{FlagIgnoreErrors, 'I', "Ign "},
	{FlagDrain, 'N', "Drn "},
	{FlagGeneric, 'G', "Gen "},
	{FlagShutdown, 'U', "Shut "},
	{FlagDisabled, 'D', "Dis "},
	{FlagStopped, 'S', "Stop "},
	{FlagError, 'E', "Err "},
	{FlagHotStandby, 'H', "Stby "},
	{FlagFree, 'F', "Free "},
	{FlagHCFail, 'C', "HcFl "},
	{FlagHotSpare, 'R', "Spar "},
}

// FlagForLetter returns the bit for a status letter (case-insensitive).
func FlagForLetter(c byte) (Flags, bool) {
	if 'a' <= c && c <= 'z' {
		c -= 'a' - 'A'
	}
	for _, f := range flagTable {
		if f.letter == c {
			return f.bit, true
		}
	}
	return 0, false
}

// ApplyStatus applies an Apache status= string ("+H", "-E", "S-E", "+D-E")
// to f: '+' sets and '-' clears, and the mode persists until changed; the
// initial mode is set. ok is false on an unknown letter, with that letter.
func ApplyStatus(f Flags, status string) (out Flags, bad byte, ok bool) {
	set := true
	for i := 0; i < len(status); i++ {
		c := status[i]
		switch c {
		case '+':
			set = true
			continue
		case '-':
			set = false
			continue
		}
		bit, known := FlagForLetter(c)
		if !known {
			return f, c, false
		}
		if set {
			f |= bit
		} else {
			f &^= bit
		}
	}
	return f, 0, true
}

// Usable reports whether the flags allow selection.
func (f Flags) Usable() bool { return f&FlagInit != 0 && f&NotUsable == 0 }

// Has reports whether every bit of b is set.
func (f Flags) Has(b Flags) bool { return f&b == b }

// String is Apache's display string: the names of the set bits, then "Ok "
// when usable, or "??? " when no bit is set ("Init Ok ", "Init Dis ").
func (f Flags) String() string {
	if f == 0 {
		return "??? "
	}
	var b strings.Builder
	for _, e := range flagTable {
		if f&e.bit != 0 {
			b.WriteString(e.display)
		}
	}
	if f.Usable() {
		b.WriteString("Ok ")
	}
	return b.String()
}
