package api

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/jobs"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// jobsReady answers 501 when the collector runs no scan service.
func (h *handler) jobsReady(w http.ResponseWriter) bool {
	if h.opt.Jobs == nil {
		writeProblem(w, http.StatusNotImplemented, wire.Problem{Error: "this collector runs no scans"})
		return false
	}
	return true
}

func (h *handler) jobFail(w http.ResponseWriter, r *http.Request, err error) {
	var re *jobs.RequestError
	switch {
	case errors.As(err, &re):
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: "scan refused", Problems: re.Problems})
	case errors.Is(err, jobs.ErrNotFound):
		writeProblem(w, http.StatusNotFound, wire.Problem{Error: "not found"})
	case errors.Is(err, jobs.ErrFinished):
		writeProblem(w, http.StatusConflict, wire.Problem{Error: err.Error()})
	default:
		h.fail(w, r, err)
	}
}

func scanOut(j store.Job, route string) adminapi.Scan {
	return adminapi.Scan{
		ID: j.ID, State: j.State, Targets: nonNil(j.Targets), Methods: nonNil(j.Methods), Credentials: nonNil(j.Credentials),
		RequestedAgent: j.RequestedAgent, Agent: j.AgentID, Route: route, ScheduleID: j.ScheduleID,
		CreatedAt: j.CreatedAt.UTC(), CreatedBy: j.CreatedBy, StartedAt: timePtr(j.StartedAt), FinishedAt: timePtr(j.FinishedAt),
		Rate: j.Rate, Attempts: j.Attempts, TriedAgents: nonNil(j.TriedAgents), Phase: j.Phase, Probed: j.Probed, Total: j.Total,
		Found: j.Found, Percent: j.Percent, ETASeconds: j.ETASeconds, Reports: j.Reports, Error: j.Error,
	}
}

func (h *handler) postScan(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	var req adminapi.CreateScan
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	j, route, err := h.opt.Jobs.Create(ctx, principal(r), jobs.Request{Targets: req.Targets, Methods: req.Methods,
		Credentials: req.Credentials, Agent: req.Agent}, r.RemoteAddr)
	if err != nil {
		h.jobFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, scanOut(j, route))
}

func (h *handler) getScans(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "limit must be 1 to 10000"})
			return
		}
		limit = n
	}
	out := adminapi.ScanList{Scans: []adminapi.Scan{}}
	for _, j := range h.opt.Jobs.List(limit) {
		out.Scans = append(out.Scans, scanOut(j, ""))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) getScan(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	j, route, err := h.opt.Jobs.Get(r.PathValue("id"))
	if err != nil {
		h.jobFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, scanOut(j, route))
}

func (h *handler) cancelScan(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	j, err := h.opt.Jobs.Cancel(ctx, principal(r), r.PathValue("id"), r.RemoteAddr)
	if err != nil {
		h.jobFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, scanOut(j, ""))
}

func (h *handler) postScanCredential(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	var req adminapi.CreateScanCredential
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	err := h.opt.Jobs.AddCredential(ctx, principal(r), store.ScanCredential{Name: req.Name, Version: req.Version,
		Community: store.Secret(req.Community), User: req.User, AuthProto: req.AuthProto, AuthPass: store.Secret(req.AuthPass),
		PrivProto: req.PrivProto, PrivPass: store.Secret(req.PrivPass)}, r.RemoteAddr)
	if err != nil {
		h.jobFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) getScanCredentials(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	cs, err := h.opt.Jobs.Credentials(ctx)
	if err != nil {
		h.jobFail(w, r, err)
		return
	}
	out := adminapi.ScanCredentialList{Credentials: []adminapi.ScanCredential{}}
	for _, c := range cs {
		out.Credentials = append(out.Credentials, adminapi.ScanCredential{Name: c.Name, Version: c.Version, User: c.User,
			AuthProto: c.AuthProto, PrivProto: c.PrivProto, CreatedAt: c.CreatedAt.UTC(), CreatedBy: c.CreatedBy})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) deleteScanCredential(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	if err := h.opt.Jobs.RemoveCredential(ctx, principal(r), r.PathValue("name"), r.RemoteAddr); err != nil {
		h.jobFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) postScanSchedule(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	var req adminapi.CreateScanSchedule
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	sc, err := h.opt.Jobs.AddSchedule(ctx, principal(r), jobs.Request{Targets: req.Targets, Methods: req.Methods,
		Credentials: req.Credentials, Agent: req.Agent}, time.Duration(req.IntervalSeconds)*time.Second, r.RemoteAddr)
	if err != nil {
		h.jobFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, scheduleOut(sc, time.Time{}))
}

func scheduleOut(sc store.Schedule, last time.Time) adminapi.ScanSchedule {
	return adminapi.ScanSchedule{ID: sc.ID, Targets: nonNil(sc.Targets), Methods: nonNil(sc.Methods), Credentials: nonNil(sc.Credentials),
		Agent: sc.RequestedAgent, IntervalSeconds: int64(sc.Interval / time.Second), CreatedAt: sc.CreatedAt.UTC(), CreatedBy: sc.CreatedBy,
		LastRun: timePtr(last)}
}

func (h *handler) getScanSchedules(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	scs, last := h.opt.Jobs.Schedules()
	sort.Slice(scs, func(i, j int) bool { return scs[i].CreatedAt.Before(scs[j].CreatedAt) })
	out := adminapi.ScanScheduleList{Schedules: []adminapi.ScanSchedule{}}
	for _, sc := range scs {
		out.Schedules = append(out.Schedules, scheduleOut(sc, last[sc.ID]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) deleteScanSchedule(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	if err := h.opt.Jobs.RemoveSchedule(ctx, principal(r), r.PathValue("id"), r.RemoteAddr); err != nil {
		h.jobFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// agentOf is the agent id of an agent-credential request ("noauth" in
// tests without authentication, where the query may name it).
func agentOf(r *http.Request) string {
	p := principal(r)
	if p.AgentID != "" {
		return p.AgentID
	}
	return r.URL.Query().Get("agent_id")
}

func (h *handler) getNextJob(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	wait := 20 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > wire.MaxJobWait {
			writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "wait must be 0 to " + strconv.Itoa(int(wire.MaxJobWait/time.Second)) + " seconds"})
			return
		}
		wait = time.Duration(n) * time.Second
	}
	agent := agentOf(r)
	j, ok, err := h.opt.Jobs.Next(r.Context(), agent, wait)
	if err != nil {
		h.jobFail(w, r, err)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (h *handler) postJobProgress(w http.ResponseWriter, r *http.Request) {
	if !h.jobsReady(w) {
		return
	}
	var p wire.JobProgress
	if !readJSON(w, r, &p) {
		return
	}
	if err := p.Validate(); err != nil {
		var ve *wire.ValidationError
		errors.As(err, &ve)
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: "invalid progress", Problems: ve.Problems})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	ack, err := h.opt.Jobs.Progress(ctx, agentOf(r), r.PathValue("id"), p)
	if err != nil {
		h.jobFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ack)
}
