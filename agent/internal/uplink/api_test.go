package uplink

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/umbrasec/umbra/shared/wire"
)

func TestCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == wire.PathJobsNext && r.URL.Query().Get("wait") == "0":
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && r.URL.Path == wire.PathJobsNext:
			_ = json.NewEncoder(w).Encode(wire.Job{ID: "scan-1", Targets: []string{"198.18.1.0/24"}})
		case r.Method == http.MethodPost && r.URL.Path == wire.PathJobProgress("scan-1"):
			var p wire.JobProgress
			if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&p) != nil || p.Found != 3 {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			_ = json.NewEncoder(w).Encode(wire.JobAck{Stop: true})
		default:
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(wire.Problem{Error: "no such scan"})
		}
	}))
	defer srv.Close()
	c := newClient(t, srv)
	ctx := t.Context()
	if ok, err := c.Call(ctx, http.MethodGet, wire.PathJobsNext+"?wait=0", nil, &wire.Job{}); ok || err != nil {
		t.Errorf("Call(no job) = %v, %v; want false, nil", ok, err)
	}
	var j wire.Job
	if ok, err := c.Call(ctx, http.MethodGet, wire.PathJobsNext+"?wait=5", nil, &j); !ok || err != nil || j.ID != "scan-1" {
		t.Errorf("Call(job) = %v, %v, %+v", ok, err, j)
	}
	var ack wire.JobAck
	if ok, err := c.Call(ctx, http.MethodPost, wire.PathJobProgress("scan-1"), wire.JobProgress{State: wire.JobRunning, Found: 3}, &ack); !ok || err != nil || !ack.Stop {
		t.Errorf("Call(progress) = %v, %v, %+v", ok, err, ack)
	}
	_, err := c.Call(ctx, http.MethodPost, wire.PathJobProgress("nope"), wire.JobProgress{}, &ack)
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Code != http.StatusNotFound || refused.Problem.Error != "no such scan" {
		t.Errorf("Call(unknown) = %v, want a 404 RefusedError", err)
	}
}
