package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/umbrasec/umbra/agent/internal/config"
	"github.com/umbrasec/umbra/agent/internal/osservice"
	"github.com/umbrasec/umbra/agent/internal/state"
	"gopkg.in/yaml.v3"
)

// serviceCommand returns the subcommand that performs one action on the
// agent's OS service: install, uninstall, start, stop, restart, status.
func serviceCommand(action string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		synopsis := action
		if action == "install" {
			synopsis = "install [--config FILE] [--collector URL]"
		}
		fs := newFlags(action, synopsis, stderr)
		var configPath, collector *string
		if action == "install" {
			configPath = fs.String("config", config.DefaultPath(), "configuration `file` the service runs with")
			collector = fs.String("collector", "", "collector base `URL`: write it to a new configuration file")
		}
		if err := parse(fs, args); err != nil {
			return err
		}
		opts := osservice.Options{}
		if action == "install" {
			path, err := filepath.Abs(*configPath)
			if err != nil {
				return err
			}
			if err := prepareConfig(path, *collector, stdout); err != nil {
				return err
			}
			opts.ConfigPath = path
		}
		msg, err := osservice.Control(action, opts)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, msg)
		return nil
	}
}

// prepareConfig makes sure the service will start with a valid
// configuration: it checks an existing file, or writes a new one, readable
// by its owner (root, SYSTEM) only, when --collector is given.
func prepareConfig(path, collector string, stdout io.Writer) error {
	_, err := os.Stat(path)
	switch {
	case err == nil && collector != "":
		return usagef("%s exists: edit it rather than passing --collector", path)
	case err == nil:
		cfg, err := config.Load(path)
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	case collector == "":
		return usagef("%s does not exist: pass --collector URL to write it", path)
	}
	cfg := config.Default()
	cfg.Collector = collector
	if err := cfg.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}
	b, err := yaml.Marshal(struct {
		Collector string `yaml:"collector"`
	}{collector})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// Restricted before anything is written: on Windows the mode above
	// means nothing, and the file inherits ProgramData's DACL.
	if err := state.Restrict(path, false); err != nil {
		f.Close()
		return errors.Join(err, os.Remove(path))
	}
	_, err = f.Write(append([]byte("# umbra-agent configuration: see the agent's README for every key.\n"), b...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	return nil
}
