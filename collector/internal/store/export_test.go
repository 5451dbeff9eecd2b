package store

import "context"

// ApplyStatements runs stmts of migration m without recording it, so a test
// can leave a migration half-done.
func (db *DB) ApplyStatements(ctx context.Context, m Migration, stmts []string) error {
	return db.applyStatements(ctx, m, stmts)
}

// InsertRow inserts one row, bypassing every check.
func (db *DB) InsertRow(ctx context.Context, insert string, values ...any) error {
	return db.insertRow(ctx, insert, values...)
}
