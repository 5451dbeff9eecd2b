package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Features are the server capabilities that the schema templates may use.
type Features struct {
	// LowCardinality is true from ClickHouse 19.0, where the type is no
	// longer experimental.
	LowCardinality bool
	// TTL is true from ClickHouse 19.6, which has table TTL clauses.
	TTL bool
}

// ReportRetention is how long the raw report log keeps a row on servers that
// support TTL.
const ReportRetention = 400 * 24 * time.Hour

// LowCardinalityString is the column type for strings with few distinct
// values.
func (f Features) LowCardinalityString() string {
	if f.LowCardinality {
		return "LowCardinality(String)"
	}
	return "String"
}

// ReportTTL is the TTL clause of the raw report log, or nothing.
func (f Features) ReportTTL() string {
	if !f.TTL {
		return ""
	}
	return fmt.Sprintf("TTL received_at + INTERVAL %d DAY", int(ReportRetention/(24*time.Hour)))
}

// FeaturesFor derives the features of a server from its version string
// ("18.16.1", "19.6.2.11", "23.8.1.2992").
func FeaturesFor(version string) (Features, error) {
	major, minor, err := parseVersion(version)
	if err != nil {
		return Features{}, err
	}
	atLeast := func(ma, mi int) bool { return major > ma || major == ma && minor >= mi }
	return Features{
		LowCardinality: atLeast(19, 0),
		TTL:            atLeast(19, 6),
	}, nil
}

func parseVersion(v string) (major, minor int, err error) {
	parts := strings.SplitN(strings.TrimSpace(v), ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("clickhouse version %q: want MAJOR.MINOR[...]", v)
	}
	if major, err = strconv.Atoi(parts[0]); err != nil || major < 0 {
		return 0, 0, fmt.Errorf("clickhouse version %q: bad major version", v)
	}
	if minor, err = strconv.Atoi(parts[1]); err != nil || minor < 0 {
		return 0, 0, fmt.Errorf("clickhouse version %q: bad minor version", v)
	}
	return major, minor, nil
}

// Migration is one versioned schema change.
type Migration struct {
	Version  uint32
	Name     string
	Checksum string // sha256 of the template text, so it does not depend on the server
	text     string
}

// Statements renders the migration for a server with features f and splits
// it into statements. A statement ends with a line ending in ";"; lines
// starting with "--" are comments.
func (m Migration) Statements(f Features) ([]string, error) {
	tmpl, err := template.New(m.Name).Option("missingkey=error").Parse(m.text)
	if err != nil {
		return nil, fmt.Errorf("migration %04d %s: %w", m.Version, m.Name, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, f); err != nil {
		return nil, fmt.Errorf("migration %04d %s: %w", m.Version, m.Name, err)
	}
	return splitStatements(buf.String()), nil
}

func splitStatements(sql string) []string {
	var stmts []string
	var cur []string
	flush := func() {
		s := strings.TrimSpace(strings.Join(cur, "\n"))
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
		if s != "" {
			stmts = append(stmts, s)
		}
		cur = cur[:0]
	}
	for _, line := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur = append(cur, strings.TrimRight(line, " \t\r"))
		if strings.HasSuffix(t, ";") {
			flush()
		}
	}
	flush()
	return stmts
}

// Migrations lists the embedded migrations in version order. File names are
// NNNN_name.sql.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading embedded migrations: %w", err)
	}
	var ms []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		name := e.Name()
		base, ok := strings.CutSuffix(name, ".sql")
		if !ok {
			continue
		}
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || v == 0 {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", name)
		}
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migration files %s and %s share version %d", prev, name, v)
		}
		seen[uint32(v)] = name
		data, err := migrationFiles.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", name, err)
		}
		sum := sha256.Sum256(data)
		ms = append(ms, Migration{Version: uint32(v), Name: label, Checksum: hex.EncodeToString(sum[:]), text: string(data)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
ORDER BY version`

// Features asks the server for its version and derives its features.
func (db *DB) Features(ctx context.Context) (Features, error) {
	v, err := db.ServerVersion(ctx)
	if err != nil {
		return Features{}, err
	}
	return FeaturesFor(v)
}

// AppliedMigrations returns the checksum of every applied migration by
// version.
func (db *DB) AppliedMigrations(ctx context.Context) (map[uint32]string, error) {
	rows, err := db.conn.Query(ctx, "SELECT version, checksum FROM schema_migrations FINAL")
	if err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", classify(err))
	}
	defer rows.Close()
	applied := map[uint32]string{}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("reading schema_migrations: %w", err)
		}
		applied[v] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", classify(err))
	}
	return applied, nil
}

// Migrate applies every pending migration in version order and records it
// in schema_migrations. Every statement is idempotent, so a run that stopped
// half-way completes on the next run, and two collectors migrating at once
// do no harm (a version recorded twice collapses in the ReplacingMergeTree).
// It returns the versions it applied.
func (db *DB) Migrate(ctx context.Context) ([]uint32, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	feat, err := db.Features(ctx)
	if err != nil {
		return nil, err
	}
	if err := db.conn.Exec(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", classify(err))
	}
	applied, err := db.AppliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	var done []uint32
	for _, m := range ms {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return done, fmt.Errorf("migration %04d %s was changed after it was applied (checksum %.12s, applied %.12s): add a new migration instead", m.Version, m.Name, m.Checksum, sum)
			}
			continue
		}
		stmts, err := m.Statements(feat)
		if err != nil {
			return done, err
		}
		if err := db.applyStatements(ctx, m, stmts); err != nil {
			return done, err
		}
		if err := db.insertRow(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)",
			m.Version, m.Name, m.Checksum, time.Now().UTC()); err != nil {
			return done, fmt.Errorf("recording migration %04d %s: %w", m.Version, m.Name, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}

func (db *DB) applyStatements(ctx context.Context, m Migration, stmts []string) error {
	for i, s := range stmts {
		if err := db.conn.Exec(ctx, s); err != nil && !columnExists(s, err) {
			return fmt.Errorf("migration %04d %s, statement %d: %w", m.Version, m.Name, i+1, classify(err))
		}
	}
	return nil
}

// columnExists reports whether err is ClickHouse refusing an ADD COLUMN
// statement because the column is there already (code 44): a migration
// that stopped half-way added it before.
func columnExists(stmt string, err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == 44 && strings.Contains(strings.ToUpper(stmt), "ADD COLUMN")
}
