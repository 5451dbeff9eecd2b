package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

func TestScanJobsRoundTrip(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	j := store.Job{ID: "scan-1", CreatedAt: now, CreatedBy: "admin:t1", Targets: []string{"198.18.1.0/24"}, Methods: []string{"sweep"},
		Credentials: []string{"ro"}, AgentID: "a1", State: "pending", Rate: 400, Version: 1}
	if err := db.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	j.State, j.Found, j.Percent, j.StartedAt, j.Version, j.TriedAgents = "running", 7, 42.5, now, 2, []string{"a0"}
	if err := db.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	js, err := db.Jobs(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0].State != "running" || js[0].Found != 7 || js[0].Percent != 42.5 || !js[0].StartedAt.Equal(now) ||
		!slices.Equal(js[0].TriedAgents, []string{"a0"}) || !js[0].FinishedAt.IsZero() {
		t.Errorf("Jobs = %+v", js)
	}

	c := store.ScanCredential{Name: "ro", Version: "2c", Community: "s3cret", CreatedAt: now, RowVer: 1}
	if err := db.PutScanCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	cs, err := db.ScanCredentials(ctx)
	if err != nil || len(cs) != 1 || cs[0].Community != "s3cret" {
		t.Fatalf("ScanCredentials = %v, %v", cs, err)
	}
	if s := fmt.Sprintf("%v %+v", cs[0], cs[0]); strings.Contains(s, "s3cret") {
		t.Errorf("a credential prints its secret: %s", s)
	}
	c.Deleted, c.RowVer = true, 2
	if err := db.PutScanCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	if cs, _ := db.ScanCredentials(ctx); len(cs) != 0 {
		t.Errorf("a removed credential is listed: %v", cs)
	}

	sc := store.Schedule{ID: "sched-1", CreatedAt: now, Targets: []string{"198.18.1.0/24"}, Interval: time.Hour, Version: 1}
	if err := db.PutSchedule(ctx, sc); err != nil {
		t.Fatal(err)
	}
	if ss, err := db.Schedules(ctx); err != nil || len(ss) != 1 || ss[0].Interval != time.Hour {
		t.Errorf("Schedules = %+v, %v", ss, err)
	}

	// AgentPrefixes and ObservedAddrs are exercised end to end by
	// e2e.TestScanJobOnTestNetwork, which routes a scan by them.
}
