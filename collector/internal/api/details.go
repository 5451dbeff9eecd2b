package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// detailStore is the part of the store the detail routes read: a host's
// detail, software across the fleet, and what discovery saw.
type detailStore interface {
	HostDetail(ctx context.Context, agentID string) (*store.HostDetail, error)
	Software(ctx context.Context, f store.SoftwareFilter) ([]store.SoftwareSummary, error)
	Devices(ctx context.Context, f store.ObservationFilter) ([]store.Device, error)
	Observations(ctx context.Context, f store.ObservationFilter) ([]store.StoredObservation, error)
}

// maxListLimit bounds the limit parameter of the detail lists.
const maxListLimit = 100000

func (h *handler) details(w http.ResponseWriter) (detailStore, bool) {
	ds, ok := h.st.(detailStore)
	if !ok {
		writeProblem(w, http.StatusNotImplemented, wire.Problem{Error: "this collector's store keeps no details"})
	}
	return ds, ok
}

func (h *handler) getHostDetail(w http.ResponseWriter, r *http.Request) {
	agentID := r.PathValue("agent_id")
	if err := wire.CheckID(agentID); err != nil {
		writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "agent id " + err.Error()})
		return
	}
	ds, ok := h.details(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	d, err := ds.HostDetail(ctx, agentID)
	if errors.Is(err, store.ErrNoHost) {
		writeProblem(w, http.StatusNotFound, wire.Problem{Error: "no inventory from agent " + agentID})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	s := d.Host
	out := adminapi.HostDetail{
		Host: adminapi.Host{
			AgentID: s.AgentID, ReportID: s.ReportID, HostID: s.HostID, Hostname: s.Hostname,
			OSFamily: s.OSFamily, Platform: s.Platform, PlatformVersion: s.PlatformVersion,
			Kernel: s.Kernel, Arch: s.Arch, Virtualization: s.Virtualization, VirtualizationRole: s.VirtualizationRole,
			CPUModel: s.CPUModel, CPUCores: s.CPUCores, CPUThreads: s.CPUThreads, MemoryBytes: s.MemoryBytes,
			MACs: nonNil(s.MACs), Addresses: nonNil(s.Addresses),
			CollectedAt: s.CollectedAt.UTC(), FirstSeen: s.FirstSeen.UTC(), LastSeen: s.LastSeen.UTC(), Reports: s.Reports,
		},
		FQDN: d.FQDN, Domain: d.Domain, Workgroup: d.Workgroup, OSBuild: d.OSBuild, OSInstallDate: timePtr(d.OSInstallDate),
		TimeZone: d.TimeZone, UTCOffsetSeconds: d.UTCOffsetSeconds, CPUVendor: d.CPUVendor, CPUSockets: d.CPUSockets, CPUMHz: d.CPUMHz,
		Interfaces: nonNilSlice(d.Interfaces), Gateways: d.Gateways, DNSServers: d.DNSServers, Hardware: d.Hardware, Users: nonNilSlice(d.Users), Sessions: nonNilSlice(d.Sessions),
		Services: nonNilSlice(d.Services), Listeners: nonNilSlice(d.Listeners), Security: d.Security, Errors: nonNilSlice(d.Errors),
		Software: adminapi.HostSoftware{
			Mode: d.Software.Mode, AsOfReportID: d.Software.AsOfReportID, Verified: d.Software.Verified,
			Count: len(d.Software.Packages), BySource: map[string]int{}, Packages: nonNilSlice(d.Software.Packages),
		},
	}
	for _, p := range d.Software.Packages {
		out.Software.BySource[p.Source]++
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// limitParam reads ?limit=, 0 when absent.
func limitParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, fmt.Errorf("limit must be 1 to %d", maxListLimit)
	}
	return n, nil
}

func (h *handler) getSoftware(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.SoftwareFilter{Name: q.Get("name"), Source: q.Get("source")}
	var problems []string
	var err error
	if f.Limit, err = limitParam(r); err != nil {
		problems = append(problems, err.Error())
	}
	if len(f.Name) > h.opt.Limits.MaxStringLen || len(f.Source) > h.opt.Limits.MaxStringLen {
		problems = append(problems, fmt.Sprintf("name and source must be at most %d bytes", h.opt.Limits.MaxStringLen))
	}
	if len(problems) > 0 {
		writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "invalid software query", Problems: problems})
		return
	}
	ds, ok := h.details(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	list, err := ds.Software(ctx, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.SoftwareList{Software: make([]adminapi.Software, 0, len(list))}
	for _, s := range list {
		out.Software = append(out.Software, adminapi.Software{Name: s.Name, Source: s.Source,
			Publishers: nonNil(s.Publishers), Versions: nonNil(s.Versions), Installs: s.Installs})
	}
	writeJSON(w, http.StatusOK, out)
}

// observationFilter reads ?address=&since=&limit=, or answers 400.
func (h *handler) observationFilter(w http.ResponseWriter, r *http.Request) (store.ObservationFilter, bool) {
	q := r.URL.Query()
	f := store.ObservationFilter{Address: q.Get("address")}
	var problems []string
	var err error
	if f.Limit, err = limitParam(r); err != nil {
		problems = append(problems, err.Error())
	}
	if len(f.Address) > 64 {
		problems = append(problems, "address must be at most 64 bytes")
	}
	if v := q.Get("since"); v != "" {
		if f.Since, err = time.Parse(time.RFC3339, v); err != nil {
			problems = append(problems, "since must be an RFC 3339 time")
		}
	}
	if len(problems) > 0 {
		writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "invalid query", Problems: problems})
		return f, false
	}
	return f, true
}

func (h *handler) getDevices(w http.ResponseWriter, r *http.Request) {
	f, ok := h.observationFilter(w, r)
	if !ok {
		return
	}
	ds, ok := h.details(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	list, err := ds.Devices(ctx, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.DeviceList{Devices: make([]adminapi.Device, 0, len(list))}
	for _, d := range list {
		out.Devices = append(out.Devices, adminapi.Device{MAC: d.MAC, MACLocal: d.MACLocal, IP: d.IP, IPs: nonNil(d.IPs),
			Hostname: d.Hostname, Vendor: d.Vendor, Model: d.Model, Serial: d.Serial, Kind: d.Kind, KindReason: d.KindReason,
			OpenPorts: nonNilSlice(d.OpenPorts), Methods: nonNil(d.Methods), Observers: nonNil(d.Observers),
			FirstSeen: d.FirstSeen.UTC(), LastSeen: d.LastSeen.UTC(), Observations: d.Observations})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) getObservations(w http.ResponseWriter, r *http.Request) {
	f, ok := h.observationFilter(w, r)
	if !ok {
		return
	}
	ds, ok := h.details(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	list, err := ds.Observations(ctx, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.ObservationList{Observations: make([]adminapi.Observation, 0, len(list))}
	for _, o := range list {
		o.ObservedAt = o.ObservedAt.UTC()
		out.Observations = append(out.Observations, adminapi.Observation{Observation: o.Observation, AgentID: o.AgentID,
			ReportID: o.ReportID, ReceivedAt: o.ReceivedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, out)
}
