// Package store keeps the collector's data in ClickHouse: it opens the
// connection, migrates the schema and reads and writes reports.
//
// Every query is written in the SQL subset that both ClickHouse 18.16 (the
// oldest server we test against) and modern servers accept; values are always
// bound with ?, never spliced into the text.
package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Secret is a string that never prints.
type Secret string

// String hides the value.
func (Secret) String() string { return "[redacted]" }

// GoString hides the value from %#v.
func (Secret) GoString() string { return "[redacted]" }

// Config says where ClickHouse is and which database holds Umbra's tables.
type Config struct {
	// Addr is host:port of ClickHouse's native protocol.
	Addr string
	// Database is created when missing. It must match identPattern.
	Database string
	Username string
	Password Secret
	// DialTimeout bounds connecting; zero means 5 seconds.
	DialTimeout time.Duration
}

var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidIdentifier reports whether s may be used unquoted as a ClickHouse
// database or table name.
func ValidIdentifier(s string) bool { return identPattern.MatchString(s) }

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("clickhouse address is empty"))
	}
	if !ValidIdentifier(c.Database) {
		errs = append(errs, fmt.Errorf("database name %q must match %s", c.Database, identPattern))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dial timeout %s is negative", c.DialTimeout))
	}
	return errors.Join(errs...)
}

// ErrUnavailable wraps errors that mean ClickHouse could not be reached, as
// opposed to a query it refused.
var ErrUnavailable = errors.New("clickhouse unavailable")

// DB is an open, database-scoped connection pool to ClickHouse.
type DB struct {
	conn     driver.Conn
	database string
}

// Open connects to ClickHouse, creates cfg.Database when missing and returns
// a DB whose queries run in that database.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("store config: %w", err)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	boot, err := dial(ctx, cfg, "default")
	if err != nil {
		return nil, err
	}
	// The name is validated above: identifiers cannot be bound with ?.
	err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database)
	boot.Close()
	if err != nil {
		return nil, fmt.Errorf("creating database %s: %w", cfg.Database, classify(err))
	}
	conn, err := dial(ctx, cfg, cfg.Database)
	if err != nil {
		return nil, err
	}
	return &DB{conn: conn, database: cfg.Database}, nil
}

func dial(ctx context.Context, cfg Config, database string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:     []string{cfg.Addr},
		Protocol: clickhouse.Native,
		Auth: clickhouse.Auth{
			Database: database,
			Username: cfg.Username,
			Password: string(cfg.Password),
		},
		DialTimeout:     cfg.DialTimeout,
		MaxOpenConns:    10,
		MaxIdleConns:    10, // all of them: a connection kept keeps its send buffer
		ConnMaxLifetime: time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to clickhouse at %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connecting to clickhouse at %s: %w", cfg.Addr, classify(err))
	}
	return conn, nil
}

// classify marks errors that say nothing about the query but that the server
// could not be reached, so callers can answer "try later".
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return err // the server answered: not an availability problem
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Database names the database that holds the tables.
func (db *DB) Database() string { return db.database }

// Close releases the connections.
func (db *DB) Close() error { return db.conn.Close() }

// Ping checks that ClickHouse answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.conn.Ping(ctx); err != nil {
		return fmt.Errorf("pinging clickhouse: %w", classify(err))
	}
	return nil
}

// ServerVersion asks the server for its version string, e.g. "18.16.1".
func (db *DB) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := db.conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return "", fmt.Errorf("asking clickhouse for its version: %w", classify(err))
	}
	return v, nil
}

// Exec runs one statement without results. It exists for tests and
// maintenance; callers must not build query text from untrusted data.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	if err := db.conn.Exec(ctx, query, args...); err != nil {
		return classify(err)
	}
	return nil
}

// Count runs a query that returns one UInt64, such as SELECT count().
func (db *DB) Count(ctx context.Context, query string, args ...any) (uint64, error) {
	var n uint64
	if err := db.conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, classify(err)
	}
	return n, nil
}

// DropDatabase drops the DB's own database. Tests use it to clean up.
func (db *DB) DropDatabase(ctx context.Context) error {
	if err := db.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db.database); err != nil {
		return fmt.Errorf("dropping database %s: %w", db.database, classify(err))
	}
	return nil
}

// insertRow inserts one row with a batch. insert is "INSERT INTO t (a, b)":
// 18.16 needs the explicit column list, and INSERT … VALUES through Exec
// does not work with it.
func (db *DB) insertRow(ctx context.Context, insert string, values ...any) error {
	b, err := db.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return classify(err)
	}
	if err := b.Append(values...); err != nil {
		_ = b.Abort()
		return err
	}
	if err := b.Send(); err != nil {
		return classify(err)
	}
	return nil
}
