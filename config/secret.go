package config

import (
	"fmt"
	"os"
	"strings"
)

// ReadSecret returns a credential given inline, in a file or in an
// environment variable (validation allows at most one); file and variable
// contents are trimmed, and an empty one is an error. key names the
// setting in errors: "admin token" for token, token_file, token_env.
func ReadSecret(key, inline, file, env string) (string, error) {
	var s string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("cannot read %s_file %q: %w", key, file, err)
		}
		if s = strings.TrimSpace(string(b)); s == "" {
			return "", fmt.Errorf("%s_file %q is empty", key, file)
		}
	case env != "":
		if s = strings.TrimSpace(os.Getenv(env)); s == "" {
			return "", fmt.Errorf("%s_env: environment variable %s is empty or unset", key, env)
		}
	default:
		s = inline
	}
	return s, nil
}

// secretSources counts the ways a secret is given; validation allows one.
func secretSources(inline, file, env string) int {
	n := 0
	for _, s := range []string{inline, file, env} {
		if s != "" {
			n++
		}
	}
	return n
}
