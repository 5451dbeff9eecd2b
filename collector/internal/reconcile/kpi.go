package reconcile

import (
	"context"
	"sort"
	"time"

	"github.com/umbrasec/umbra/collector/internal/registry"
)

// KPIs are the figures an asset manager and a security team track.
type KPIs struct {
	Devices int `json:"devices"`
	// Managed is the share of devices with an agent, Registered the
	// share that match an asset (0 to 100).
	ManagedPct    float64 `json:"managed_pct"`
	RegisteredPct float64 `json:"registered_pct"`
	// AgentCoveragePct is the share of deployed assets that expect an
	// agent and have one reporting.
	AgentCoveragePct float64 `json:"agent_coverage_pct"`
	// OpenFindings counts open and acknowledged findings by kind and age
	// bucket (<1d, 1-7d, 7-30d, >30d since opened).
	OpenFindings map[string]map[string]int `json:"open_findings"`
	// MeanTimeToRegisterHours is the mean time from first sighting to the
	// resolution of resolved unregistered-device and unregistered-agent
	// findings.
	MeanTimeToRegisterHours float64                     `json:"mean_time_to_register_hours"`
	AssetsByLifecycle       map[string]int              `json:"assets_by_lifecycle"`
	AssetsByCategory        map[string]int              `json:"assets_by_category"`
	CostByCategory          map[string]map[string]int64 `json:"cost_cents_by_category"` // category -> currency -> cents
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n*1000/d) / 10
}

func ageBucket(d time.Duration) string {
	switch {
	case d < 24*time.Hour:
		return "<1d"
	case d < 7*24*time.Hour:
		return "1-7d"
	case d < 30*24*time.Hour:
		return "7-30d"
	}
	return ">30d"
}

// ComputeKPIs derives the KPIs; it is pure.
func ComputeKPIs(devs []Device, fs []StoredFinding, assets []registry.Asset, now time.Time) KPIs {
	k := KPIs{Devices: len(devs), OpenFindings: map[string]map[string]int{}, AssetsByLifecycle: map[string]int{},
		AssetsByCategory: map[string]int{}, CostByCategory: map[string]map[string]int64{}}
	unregistered := map[string]bool{}
	coverageGaps := map[string]bool{}
	var ttr time.Duration
	var resolved int
	for _, f := range fs {
		switch f.State {
		case StateOpen, StateAcknowledged:
			if k.OpenFindings[f.Kind] == nil {
				k.OpenFindings[f.Kind] = map[string]int{}
			}
			k.OpenFindings[f.Kind][ageBucket(now.Sub(f.OpenedAt))]++
			switch f.Kind {
			case KindUnregisteredDevice, KindUnregisteredAgent:
				unregistered[f.DeviceID] = true
			case KindUnmanagedAsset, KindMissingAsset:
				coverageGaps[f.AssetID] = true
			}
		case StateResolved:
			if (f.Kind == KindUnregisteredDevice || f.Kind == KindUnregisteredAgent) && !f.FirstSeen.IsZero() && f.ResolvedAt.After(f.FirstSeen) {
				ttr += f.ResolvedAt.Sub(f.FirstSeen)
				resolved++
			}
		}
	}
	var managed, registered int
	for _, d := range devs {
		if len(d.Agents) > 0 {
			managed++
		}
		if !unregistered[d.ID] {
			registered++
		}
	}
	k.ManagedPct, k.RegisteredPct = pct(managed, len(devs)), pct(registered, len(devs))
	if resolved > 0 {
		k.MeanTimeToRegisterHours = float64(int((ttr/time.Duration(resolved)).Hours()*10)) / 10
	}
	var expect, covered int
	for _, a := range assets {
		k.AssetsByLifecycle[string(a.Lifecycle)]++
		k.AssetsByCategory[string(a.Category)]++
		if k.CostByCategory[string(a.Category)] == nil {
			k.CostByCategory[string(a.Category)] = map[string]int64{}
		}
		k.CostByCategory[string(a.Category)][a.Currency] += a.CostCents
		if a.ExpectAgent && a.Lifecycle == registry.Deployed {
			expect++
			if !coverageGaps[a.ID] {
				covered++
			}
		}
	}
	k.AgentCoveragePct = pct(covered, expect)
	return k
}

// KPIs computes the KPIs from the latest run.
func (e *Engine) KPIs(ctx context.Context) (KPIs, error) {
	devs, err := e.Devices(ctx)
	if err != nil {
		return KPIs{}, err
	}
	fs, err := e.ListFindings(ctx, FindingFilter{State: "all"})
	if err != nil {
		return KPIs{}, err
	}
	assets, err := e.reg.List(ctx)
	if err != nil {
		return KPIs{}, err
	}
	sort.Slice(assets, func(i, j int) bool { return assets[i].ID < assets[j].ID })
	return ComputeKPIs(devs, fs, assets, e.now()), nil
}
