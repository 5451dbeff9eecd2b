package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/ingest"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// nopStore and nopIngest take every report and store nothing: the
// benchmark measures the handler alone.
type nopStore struct{}

func (nopStore) StoreInventory(context.Context, time.Time, *wire.Report) (bool, error) {
	return false, nil
}
func (nopStore) ListHosts(context.Context) ([]store.Host, error) { return nil, nil }
func (nopStore) Ping(context.Context) error                      { return nil }

type nopIngest struct{}

func (nopIngest) Submit(context.Context, time.Time, *wire.Report, ingest.Body) (bool, error) {
	return false, nil
}

// BenchmarkPostReport is the collector's CPU for one report as the load
// generator posts them (200 packages, gzip), from the request to the
// answer, without TLS and without storing it.
func BenchmarkPostReport(b *testing.B) {
	data, err := os.ReadFile("../../../shared/wire/testdata/loadgen-200.json")
	if err != nil {
		b.Fatal(err)
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = zw.Write(data)
	_ = zw.Close()
	created := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	h := api.New(nopStore{}, slog.New(slog.NewTextHandler(io.Discard, nil)), api.Options{
		NoAuth: true, Ingest: nopIngest{}, Now: func() time.Time { return created }})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, wire.PathReports, bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("POST = %d %s", rec.Code, rec.Body)
		}
	}
}
