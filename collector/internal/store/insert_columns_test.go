package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

// TestInsertColumns: rows given column by column arrive whole, also when
// they are more than one block; columns of the wrong length are refused
// before anything is sent.
func TestInsertColumns(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	const insert = `INSERT INTO device_parts (device_id, part, version, deleted, kind, doc)`
	const n = 40_000 // more than two blocks
	ids, parts, vers := make([]string, n), make([]uint64, n), make([]uint64, n)
	del, kind, docs := make([]uint8, n), make([]uint8, n), make([]string, n)
	for i := range n {
		ids[i], parts[i], vers[i], kind[i], docs[i] = fmt.Sprintf("dev-%d", i%977), uint64(i), 1, 2, fmt.Sprintf(`{"n":%d}`, i)
	}
	if err := db.InsertColumns(ctx, insert, n, ids, parts, vers, del, kind, docs); err != nil {
		t.Fatal(err)
	}
	got, err := db.Count(ctx, "SELECT count() FROM device_parts")
	if err != nil || got != n {
		t.Fatalf("device_parts holds %d rows, %v; want %d", got, err, n)
	}
	sum, err := db.Count(ctx, "SELECT sum(part) FROM device_parts WHERE doc = concat('{\"n\":', toString(part), '}')")
	if err != nil || sum != n*(n-1)/2 {
		t.Fatalf("rows whose doc matches their part sum to %d, %v; want %d", sum, err, n*(n-1)/2)
	}
	err = db.InsertColumns(ctx, insert, 2, ids[:2], parts[:2], vers[:2], del[:2], kind[:1], docs[:2])
	if !errors.Is(err, store.ErrInsert) {
		t.Fatalf("a short column: %v; want ErrInsert", err)
	}
	if got, _ := db.Count(ctx, "SELECT count() FROM device_parts"); got != n {
		t.Fatalf("after a refused insert device_parts holds %d rows; want %d", got, n)
	}
}
