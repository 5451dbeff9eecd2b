// Package storetest gives tests a real ClickHouse database of their own.
//
// The server is the one named by UMBRA_TEST_CLICKHOUSE (host:port). When that
// is unset, a test run with -short skips (and fails when CI is set, so CI can
// never go green by skipping); a full run starts a private server once per
// test binary with scripts/clickhouse.sh and stops it when the binary ends.
// A package using New must call Main from its TestMain:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
)

// EnvAddr names the environment variable with the address of a running
// ClickHouse for tests.
const EnvAddr = "UMBRA_TEST_CLICKHOUSE"

var (
	mainCalled bool

	startOnce sync.Once
	startAddr string
	startErr  error
	startDir  string // set when this binary started a server
)

// Main runs the tests and stops the private server, if one was started.
func Main(m *testing.M) {
	mainCalled = true
	code := m.Run()
	if err := stopPrivate(); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Addr returns the address of the test ClickHouse, starting a private one
// when needed, or skips or fails t as the package comment says.
func Addr(t testing.TB) string {
	t.Helper()
	if a := os.Getenv(EnvAddr); a != "" {
		return a
	}
	if testing.Short() {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is unset and CI is set: ClickHouse tests must not be skipped in CI", EnvAddr)
		}
		t.Skipf("ClickHouse test skipped in -short mode: set %s=host:port to run it", EnvAddr)
	}
	if !mainCalled {
		t.Fatal("storetest: the test package must call storetest.Main(m) from TestMain, so the private ClickHouse is stopped")
	}
	startOnce.Do(func() { startAddr, startErr = startPrivate() })
	if startErr != nil {
		t.Fatalf("starting a private ClickHouse: %v", startErr)
	}
	return startAddr
}

// New returns a DB on a fresh, migrated database that is dropped when the
// test ends.
func New(t testing.TB) *store.DB {
	t.Helper()
	db := NewEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrating %s: %v", db.Database(), err)
	}
	return db
}

// NewEmpty returns a DB on a fresh database without any tables, dropped when
// the test ends.
func NewEmpty(t testing.TB) *store.DB {
	t.Helper()
	addr := Addr(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "umbra_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, store.Config{Addr: addr, Database: name})
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := db.DropDatabase(ctx); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
		db.Close()
	})
	return db
}

// RepoRoot walks up from the working directory to the directory holding
// go.work.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory")
		}
		dir = parent
	}
}

func startPrivate() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "clickhouse.sh")
	dir, err := os.MkdirTemp("", "umbra-storetest-")
	if err != nil {
		return "", err
	}
	startDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script, "start", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s start %s: %w\n%s", script, dir, err, stderr.String())
	}
	addr := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(addr, '\n'); i >= 0 {
		addr = addr[i+1:]
	}
	if addr == "" {
		return "", fmt.Errorf("%s start printed no address\n%s", script, stderr.String())
	}
	return addr, nil
}

func stopPrivate() error {
	if startDir == "" {
		return nil
	}
	dir := startDir
	startDir = ""
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "clickhouse.sh"), "stop", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("stopping the private ClickHouse in %s: %w\n%s", dir, err, out)
	}
	return os.RemoveAll(dir)
}
