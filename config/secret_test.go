package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_TEST_SECRET", " from-env ")
	t.Setenv("SLUICE_TEST_EMPTY", "")
	for _, c := range []struct {
		inline, file, env, want, err string
	}{
		{inline: "inline", want: "inline"},
		{file: file, want: "s3cret"},
		{env: "SLUICE_TEST_SECRET", want: "from-env"},
		{file: filepath.Join(dir, "missing"), err: `cannot read admin token_file "` + filepath.Join(dir, "missing") + `": open ` + filepath.Join(dir, "missing") + `: no such file or directory`},
		{file: empty, err: `admin token_file "` + empty + `" is empty`},
		{env: "SLUICE_TEST_EMPTY", err: "admin token_env: environment variable SLUICE_TEST_EMPTY is empty or unset"},
	} {
		got, err := ReadSecret("admin token", c.inline, c.file, c.env)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%+v: error %v, want %q", c, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v: %q %v, want %q", c, got, err, c.want)
		}
	}
}
