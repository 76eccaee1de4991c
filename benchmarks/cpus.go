//go:build linux

package main

import (
	"fmt"
	"strconv"
	"strings"
)

// countCPUs counts the CPUs of a taskset list such as "0", "2-3" or "0,4-5".
func countCPUs(list string) (int, error) {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("cannot parse CPU list %q (want e.g. 1 or 0,2-3)", list)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("cannot parse CPU list %q (want e.g. 1 or 0,2-3)", list)
			}
		}
		n += b - a + 1
	}
	return n, nil
}
