package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

// assetsSQL registers every hundredth generated host (by MAC) and every
// tenth switch (by serial), deployed.
const assetsSQL = `INSERT INTO assets (asset_id, version, tag, name, category, serial, macs, hostname, owner, location, cost_cents, currency,
purchase_date, warranty_end, lifecycle, expect_agent, notes, source, disposal_outcome, wipe_method, wipe_certificate, disposal_by, disposal_at,
action, reason, changed_by, changed_at, created_at)
SELECT concat('bench-', toString(d)), toUInt64(1), concat('B-', toString(d)), concat('bench ', toString(d)),
    if(d % 20 = 9, 'network-infrastructure', 'end-user-device'),
    if(d % 20 = 9, concat('SW', toString(d)), ''),
    if(d % 20 = 9, CAST([] AS Array(String)), [concat('00:1b:', lower(hex(toUInt8(intDiv(d, 16777216) % 256))), ':', lower(hex(toUInt8(intDiv(d, 65536) % 256))), ':',
        lower(hex(toUInt8(intDiv(d, 256) % 256))), ':', lower(hex(toUInt8(d % 256))))]),
    '', '', '', toInt64(0), '', toDateTime(0, 'UTC'), toDateTime(0, 'UTC'), 'deployed', toUInt8(0), '', 'bench', '', '', '', '', toDateTime(0, 'UTC'),
    'import', '', 'bench', toDateTime(?, 'UTC'), toDateTime(?, 'UTC')
FROM (SELECT number * 100 + 9 * (number % 2) AS d FROM system.numbers LIMIT ?)`

func median(xs []time.Duration) time.Duration {
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// TestBenchReconcile is the benchmark of scripts/bench-reconcile.sh; it runs
// only when UMBRA_BENCH_RECONCILE is set. It fills the database
// UMBRA_BENCH_DB (created and kept, so a second run reuses the data) with
// UMBRA_BENCH_ROWS generated observations of UMBRA_BENCH_DEVICES devices,
// builds the graph, then measures the shadow report and the reconciliation
// of UMBRA_BENCH_NEW new observations, UMBRA_BENCH_RUNS times. It prints
// "bench <name> <value>" lines.
func TestBenchReconcile(t *testing.T) {
	if os.Getenv("UMBRA_BENCH_RECONCILE") == "" {
		t.Skip("set UMBRA_BENCH_RECONCILE=1 (scripts/bench-reconcile.sh)")
	}
	ctx := context.Background()
	rows, devices := envInt("UMBRA_BENCH_ROWS", 1_000_000), envInt("UMBRA_BENCH_DEVICES", 100_000)
	fresh, runs := envInt("UMBRA_BENCH_NEW", 10_000), int(envInt("UMBRA_BENCH_RUNS", 5))
	name := os.Getenv("UMBRA_BENCH_DB")
	if name == "" {
		name = fmt.Sprintf("umbra_bench_%d_%d", rows, devices)
	}
	db, err := store.Open(ctx, store.Config{Addr: storetest.Addr(t), Database: name})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	say := func(k string, v any) { fmt.Printf("bench %s %v\n", k, v) }
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	span := 30 * 24 * time.Hour
	step := max(span/time.Duration(rows+uint64(runs)*fresh), time.Millisecond)
	have, err := db.Count(ctx, "SELECT count() FROM observation_feed")
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 10_000_000
	t0 := time.Now()
	for from := have; from < rows; from += chunk {
		n := min(chunk, rows-from)
		// One "hour" of arrival per chunk, so a rebuild reads in windows.
		if err := Generate(ctx, db, Generated{Devices: devices, From: from, N: n, Start: start, Step: step,
			Received: start.Add(time.Duration(from/chunk) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "generated %d of %d rows in %s\n", from+n, rows, time.Since(t0).Round(time.Second))
	}
	if have < rows {
		say("generate_seconds", time.Since(t0).Seconds())
		if err := db.Exec(ctx, assetsSQL, start.Unix(), start.Unix(), devices/100); err != nil {
			t.Fatal(err)
		}
	}
	// What reconciliation wrote in an earlier run of the benchmark goes:
	// each build writes every device and finding again, and versions piling
	// up from run to run would give ClickHouse more to merge each time.
	for _, table := range []string{"device_current", "device_parts", "findings", "finding_acks", "reconcile_runs", "alert_log"} {
		if err := db.Exec(ctx, "TRUNCATE TABLE "+table); err != nil {
			t.Fatal(err)
		}
	}
	say("observations", rows)
	say("generated_devices", devices)
	now := start.Add(span + 24*time.Hour)
	level := slog.LevelInfo
	if os.Getenv("UMBRA_BENCH_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	e := New(db, logger, func() time.Time { return now })
	defer lives.Delete(db)

	t0 = time.Now()
	st, err := e.Run(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	say("build_seconds", time.Since(t0).Seconds())
	say("devices", st.Devices)
	say("findings_open", st.Open)
	say("heap_mib_after_build", ms.HeapAlloc>>20)
	say("heap_objects_after_build", ms.HeapObjects) // what each collection marks one by one
	say("rss_mib_after_build", rssMiB())
	memprofile(t, "")

	var shadow, page, pageStored, apply []time.Duration
	var gcs uint32 // collections completed during the runs
	var cpu []time.Duration
	var gcSeconds float64
	next := max(rows, have)
	recv, err := db.Count(ctx, "SELECT toUInt64(max(received_at)) FROM observation_feed")
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		t1 := time.Now()
		if i == 0 {
			// The whole report, streamed as an export does (once: it
			// reads every finding).
			n := 0
			if err := e.EachFinding(ctx, FindingFilter{Kind: KindUnregisteredDevice}, func(*StoredFinding) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			shadow = append(shadow, time.Since(t1))
			say("shadow_rows", n)
			if p := os.Getenv("UMBRA_BENCH_CPUPROFILE"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					t.Fatal(err)
				}
				defer pprof.StopCPUProfile()
			}
		}
		t1 = time.Now()
		top, total, err := e.ShadowPage(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		page = append(page, time.Since(t1))
		t1 = time.Now()
		if _, _, err := e.shadowPageStored(ctx, 100); err != nil {
			t.Fatal(err)
		}
		pageStored = append(pageStored, time.Since(t1))
		if i == 0 {
			say("shadow_page_rows", fmt.Sprintf("%d/%d", len(top), total))
		}
		if err := Generate(ctx, db, Generated{Devices: devices, From: next, N: fresh, Start: start, Step: step,
			Received: time.Unix(int64(recv), 0).Add(time.Duration(i+1) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		next += fresh
		if i == 0 {
			memprofile(t, ".before-runs")
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		p0, gc0 := readProcStat(), gcCPU()
		st, err := e.Run(ctx, "bench")
		if err != nil {
			t.Fatal(err)
		}
		p1, gc1 := readProcStat(), gcCPU()
		runtime.ReadMemStats(&m1)
		// What the run allocated, and whether the collector finished a
		// cycle meanwhile (one still under way by the end is not counted);
		// the CPU the process used (on every thread) and how much of it the
		// garbage collector took.
		fmt.Fprintf(os.Stderr, "run %d: allocated %d MiB; heap %d MiB of next goal %d MiB; collections %d; pages touched for the first time %d; CPU %.2f s, of it GC %.2f s\n", i,
			(m1.TotalAlloc-m0.TotalAlloc)>>20, m1.HeapAlloc>>20, m1.NextGC>>20, m1.NumGC-m0.NumGC, p1.minflt-p0.minflt, p1.cpu-p0.cpu, gc1-gc0)
		gcs += m1.NumGC - m0.NumGC
		cpu = append(cpu, time.Duration((p1.cpu-p0.cpu)*float64(time.Second)))
		gcSeconds += gc1 - gc0
		if st.Full || st.New != int(fresh) {
			t.Fatalf("run %d: %+v; want %d new observations applied incrementally", i, st, fresh)
		}
		apply = append(apply, time.Duration(st.DurationMS)*time.Millisecond)
		fmt.Fprintf(os.Stderr, "run %d: %+v\n", i, st)
	}
	memprofile(t, ".runs")
	say("rss_mib_after_runs", rssMiB())
	say("shadow_report_full_seconds_median", median(shadow).Seconds())
	say("shadow_report_page_seconds_median", median(page).Seconds())
	say("shadow_report_page_from_table_seconds_median", median(pageStored).Seconds())
	say("reconcile_new_seconds_median", median(apply).Seconds())
	under := 0
	for _, d := range apply {
		if d < time.Second {
			under++
		}
	}
	say("reconcile_new_runs_under_1s", under)
	slowest := slices.Sorted(slices.Values(apply))
	say("reconcile_new_seconds_p90", slowest[len(slowest)*9/10].Seconds())
	say("reconcile_new_seconds_all", fmt.Sprint(apply))
	say("collections_during_runs", gcs)
	say("reconcile_new_cpu_seconds_median", median(cpu).Seconds())
	say("gc_cpu_seconds_during_runs", gcSeconds)
}

// procStat is what /proc/self/stat tells of the process: how many pages it
// has touched for the first time (minor page faults) and the CPU seconds it
// has used; zero where unknown.
type procStat struct {
	minflt int64
	cpu    float64
}

func readProcStat() procStat {
	b, _ := os.ReadFile("/proc/self/stat")
	// The command name, in parentheses, may hold spaces: count after it.
	// Fields 10, 14 and 15: minflt, utime and stime (in clock ticks of
	// 1/100 s on Linux).
	var st procStat
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
		if f := strings.Fields(string(b[i+1:])); len(f) > 12 {
			st.minflt, _ = strconv.ParseInt(f[7], 10, 64)
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			sy, _ := strconv.ParseInt(f[12], 10, 64)
			st.cpu = float64(ut+sy) / 100
		}
	}
	return st
}

// gcCPU is the CPU seconds the garbage collector has used (an estimate of
// the runtime's).
func gcCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return s[0].Value.Float64()
}

// rssMiB is the process's resident memory (VmRSS), 0 where unknown.
func rssMiB() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb >> 10
		}
	}
	return 0
}

// memprofile writes a heap profile to UMBRA_BENCH_MEMPROFILE+suffix, if
// set, after a collection (a profile shows the heap as of the last one):
// pprof -base ….before-runs ….runs shows what the runs allocated.
func memprofile(t *testing.T, suffix string) {
	p := os.Getenv("UMBRA_BENCH_MEMPROFILE")
	if p == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(p + suffix)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}
