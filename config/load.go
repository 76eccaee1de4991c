package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Load reads a configuration file, picking the syntax by extension: .conf
// is Apache httpd directives, .yaml or .yml native YAML. It decodes, applies
// defaults and validates; errors are *Error where a line is known.
func Load(path string) (*Config, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".conf":
		return LoadApache(path)
	case ".yaml", ".yml":
		return LoadYAML(path)
	}
	return nil, fmt.Errorf("cannot load %q: unknown syntax (want .conf for Apache directives, or .yaml / .yml)", path)
}

// LoadApache reads Apache directives from path; Include reads the real
// filesystem.
func LoadApache(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config %q: %w", path, err)
	}
	return ParseApache(path, src, os.DirFS("/"))
}

// LoadApacheRoot is LoadApache with an initial ServerRoot (sluice -d).
func LoadApacheRoot(path, root string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config %q: %w", path, err)
	}
	return ParseApacheRoot(path, src, os.DirFS("/"), root)
}

// LoadYAML reads native YAML from path.
func LoadYAML(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config %q: %w", path, err)
	}
	return ParseYAML(path, src)
}

// finish runs the steps both syntaxes share once decoded: normalize and
// check each value, drop the vhosts' balancers Main's hide, create the
// balancers routes name but nobody defined, fill defaults, then check what
// spans several values.
func finish(cfg *Config, idx yamlIndex) (*Config, error) {
	c := &checker{cfg: cfg, idx: idx}
	if err := c.normalize(); err != nil {
		return nil, err
	}
	if err := c.compileMods(); err != nil {
		return nil, err
	}
	c.dropShadowedBalancers()
	addMissingBalancers(cfg)
	setDefaults(cfg)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
