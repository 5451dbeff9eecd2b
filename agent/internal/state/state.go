// Package state keeps the agent's small durable state on disk: the folder it
// lives in and the agent id, made on first use and kept for life.
package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/shared/wire"
)

// agentIDFile is the name of the file in the state folder that holds the
// agent id.
const agentIDFile = "agent-id"

// DefaultDir is the state folder of an agent installed as a service on this
// OS.
func DefaultDir() string { return defaultDir(runtime.GOOS, os.Getenv) }

func defaultDir(goos string, getenv func(string) string) string {
	switch goos {
	case "windows":
		base := getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return base + `\Umbra\agent`
	case "darwin":
		return "/Library/Application Support/Umbra/agent"
	default:
		return "/var/lib/umbra-agent"
	}
}

// AgentID returns the agent id kept in dir, making dir and a fresh random
// id on first use. A file that holds no valid id is an error: replacing it
// silently would make this host a new agent to the collector.
func AgentID(dir string) (string, error) {
	path := filepath.Join(dir, agentIDFile)
	id, err := readID(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if err := MkdirPrivate(dir); err != nil {
		return "", fmt.Errorf("making state folder: %w", err)
	}
	id = uuid.NewString()
	switch err := writeNew(path, id+"\n"); {
	case errors.Is(err, fs.ErrExist):
		// Another process made the id first: use that one.
		return readID(path)
	case err != nil:
		return "", fmt.Errorf("saving agent id: %w", err)
	}
	return id, nil
}

func readID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading agent id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if err := wire.CheckID(id); err != nil {
		return "", fmt.Errorf("agent id file %s is corrupt (id %v): remove it to enroll this host as a new agent", path, err)
	}
	return id, nil
}

// writeNew writes data to path atomically, mode 0600, and fails with
// fs.ErrExist if path already exists: the data goes to a temporary file in
// the same folder, flushed, then linked into place (renamed where the file
// system has no hard links).
func writeNew(path, data string) (err error) {
	tmp, err := writeTemp(path, []byte(data))
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}()
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		if _, serr := os.Lstat(path); serr == nil {
			return fs.ErrExist
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	syncDir(filepath.Dir(path))
	return nil
}

// WritePrivate replaces path with data atomically, readable only by the
// system (mode 0600; on Windows a DACL for SYSTEM and Administrators only,
// see Restrict): a crash leaves the old file or the new one, never a torn
// one.
func WritePrivate(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// writeTemp writes data to a new temporary file beside path, restricted
// (Restrict) before data is written, flushed to disk, and returns its name.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := Restrict(tmp, false); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// syncDir flushes a folder's entries where the OS allows it, so that a new
// file survives a crash; failure only weakens that promise.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
