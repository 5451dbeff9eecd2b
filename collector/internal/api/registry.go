package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/collector/internal/reconcile"
	"github.com/umbrasec/umbra/collector/internal/registry"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// Paths of the register, reconciliation and findings.
const (
	PathAssets        = "/api/v1/assets"
	PathAssetImport   = "/api/v1/assets/import"
	PathAssetExport   = "/api/v1/assets/export"
	PathRecDevices    = "/api/v1/reconcile/devices"
	PathRecSplits     = "/api/v1/reconcile/splits"
	PathRecRun        = "/api/v1/reconcile/run"
	PathFindings      = "/api/v1/findings"
	PathSoftwareRules = "/api/v1/software-rules"
	PathKPIs          = "/api/v1/reports/kpi"
)

// maxImportBytes bounds a CSV import.
const maxImportBytes = 32 << 20

func (h *handler) registryRoutes(hf func(func(http.ResponseWriter, *http.Request)) http.Handler) []Route {
	return []Route{
		{"GET", PathAssets, PolicyRead, hf(h.getAssets)},
		{"POST", PathAssets, PolicyOperate, hf(h.postAsset)},
		{"GET", PathAssets + "/{id}", PolicyRead, hf(h.getAsset)},
		{"PATCH", PathAssets + "/{id}", PolicyOperate, hf(h.patchAsset)},
		{"POST", PathAssets + "/{id}/retire", PolicyOperate, hf(h.retireAsset)},
		{"POST", PathAssetImport, PolicyOperate, hf(h.importAssets)},
		{"GET", PathAssetExport, PolicyRead, hf(h.exportAssets)},
		{"GET", PathRecDevices, PolicyRead, hf(h.getRecDevices)},
		{"GET", PathRecDevices + "/{id}", PolicyRead, hf(h.explainDevice)},
		{"POST", PathRecSplits, PolicyOperate, hf(h.postSplit)},
		{"POST", PathRecRun, PolicyOperate, hf(h.postReconcile)},
		{"GET", PathFindings, PolicyRead, hf(h.getFindings)},
		{"POST", PathFindings + "/{id}/ack", PolicyRead, hf(h.ackFinding)},
		{"POST", PathFindings + "/{id}/register", PolicyOperate, hf(h.registerFinding)},
		{"GET", PathSoftwareRules, PolicyRead, hf(h.getRules)},
		{"POST", PathSoftwareRules, PolicyOperate, hf(h.postRule)},
		{"GET", PathKPIs, PolicyRead, hf(h.getKPIs)},
	}
}

func (h *handler) regDB(w http.ResponseWriter) (*store.DB, bool) {
	db, ok := h.st.(*store.DB)
	if !ok {
		writeProblem(w, http.StatusNotImplemented, wire.Problem{Error: "this collector's store keeps no register"})
	}
	return db, ok
}

func (h *handler) register(w http.ResponseWriter) (*registry.Register, bool) {
	db, ok := h.regDB(w)
	if !ok {
		return nil, false
	}
	return registry.New(db, h.opt.Now), true
}

func (h *handler) engine(w http.ResponseWriter) (*reconcile.Engine, bool) {
	db, ok := h.regDB(w)
	if !ok {
		return nil, false
	}
	return reconcile.New(db, h.log, h.opt.Now), true
}

func actorOf(r *http.Request) registry.Actor {
	p := principal(r)
	return registry.Actor{ID: p.Actor(), Kind: p.Kind, Remote: r.RemoteAddr}
}

// regFail answers the errors of the register and reconciliation.
func (h *handler) regFail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *registry.ValidationError
	var ie *registry.ImportError
	switch {
	case errors.As(err, &ve):
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: "invalid asset", Problems: ve.Problems})
	case errors.As(err, &ie):
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: "import refused, nothing imported", Problems: ie.Problems})
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, reconcile.ErrNotFound):
		writeProblem(w, http.StatusNotFound, wire.Problem{Error: err.Error()})
	case errors.Is(err, registry.ErrConflict):
		writeProblem(w, http.StatusConflict, wire.Problem{Error: err.Error()})
	case errors.Is(err, reconcile.ErrInvalid):
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: err.Error()})
	default:
		h.fail(w, r, err)
	}
}

func (h *handler) getAssets(w http.ResponseWriter, r *http.Request) {
	reg, ok := h.register(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	as, err := reg.List(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if as == nil {
		as = []registry.Asset{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"assets": as})
}

func (h *handler) postAsset(w http.ResponseWriter, r *http.Request) {
	var a registry.Asset
	if !readJSON(w, r, &a) {
		return
	}
	reg, ok := h.register(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	out, err := reg.Create(ctx, actorOf(r), a)
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (h *handler) getAsset(w http.ResponseWriter, r *http.Request) {
	reg, ok := h.register(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	a, err := reg.Get(ctx, r.PathValue("id"))
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	hist, err := reg.History(ctx, a.ID)
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"asset": a, "history": hist})
}

func (h *handler) patchAsset(w http.ResponseWriter, r *http.Request) {
	var p registry.Patch
	if !readJSON(w, r, &p) {
		return
	}
	reg, ok := h.register(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	a, err := reg.Update(ctx, actorOf(r), r.PathValue("id"), p)
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *handler) retireAsset(w http.ResponseWriter, r *http.Request) {
	var rt registry.Retirement
	if !readJSON(w, r, &rt) {
		return
	}
	reg, ok := h.register(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	a, err := reg.Retire(ctx, actorOf(r), r.PathValue("id"), rt)
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *handler) importAssets(w http.ResponseWriter, r *http.Request) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if !strings.HasPrefix(ct, "text/csv") {
		writeProblem(w, http.StatusUnsupportedMediaType, wire.Problem{Error: "Content-Type must be text/csv"})
		return
	}
	format := registry.Format(r.URL.Query().Get("format"))
	switch format {
	case registry.FormatAuto, registry.FormatUmbra, registry.FormatSnipeIT, registry.FormatNetBox:
	default:
		writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "format must be umbra, snipeit or netbox"})
		return
	}
	var def registry.Category
	if c := r.URL.Query().Get("default_category"); c != "" {
		cat, err := registry.ParseCategory(c)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, wire.Problem{Error: err.Error()})
			return
		}
		def = cat
	}
	reg, ok := h.register(w)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImportBytes))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, wire.Problem{Error: "reading the CSV: " + err.Error()})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	res, err := reg.Import(ctx, actorOf(r), strings.NewReader(string(body)), format, def)
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *handler) exportAssets(w http.ResponseWriter, r *http.Request) {
	reg, ok := h.register(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	as, err := reg.List(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="umbra-assets.csv"`)
	w.WriteHeader(http.StatusOK)
	_ = registry.WriteCSV(w, as)
}

func (h *handler) getRecDevices(w http.ResponseWriter, r *http.Request) {
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	ds, err := e.Devices(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": ds})
}

func (h *handler) explainDevice(w http.ResponseWriter, r *http.Request) {
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	d, err := e.Explain(ctx, r.PathValue("id"))
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// SplitRequest is the body of POST PathRecSplits.
type SplitRequest struct {
	Identifiers []string `json:"identifiers"`
	Reason      string   `json:"reason"`
}

func (h *handler) postSplit(w http.ResponseWriter, r *http.Request) {
	var req SplitRequest
	if !readJSON(w, r, &req) {
		return
	}
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	id, err := e.AddSplit(ctx, actorOf(r), req.Identifiers, req.Reason)
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

func (h *handler) postReconcile(w http.ResponseWriter, r *http.Request) {
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	st, err := e.Run(ctx, "api:"+principal(r).Actor())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// MaxFindingsPage bounds the limit of GET PathFindings.
const MaxFindingsPage = 10_000

// FindingsPage is the answer of GET PathFindings: the findings and how
// many the filter selects. Without a limit every finding is sent,
// streamed, and Total follows them.
type FindingsPage struct {
	Findings []reconcile.StoredFinding `json:"findings"`
	Total    uint64                    `json:"total"`
}

// getFindings answers GET PathFindings?kind=&state=&limit=. With a limit
// (1 to MaxFindingsPage) it sends the first page and the total: the open
// unregistered devices (the shadow report's first page) come from the
// reconciler's memory. Without one it streams every selected finding as
// ClickHouse sends them, so an export of a million costs one at a time.
func (h *handler) getFindings(w http.ResponseWriter, r *http.Request) {
	e, ok := h.engine(w)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := reconcile.FindingFilter{Kind: q.Get("kind"), State: q.Get("state")}
	if err := f.Check(); err != nil {
		writeProblem(w, http.StatusBadRequest, wire.Problem{Error: err.Error()})
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxFindingsPage {
			writeProblem(w, http.StatusBadRequest, wire.Problem{Error: fmt.Sprintf("limit %q: want a number from 1 to %d", truncate(v, 32), MaxFindingsPage)})
			return
		}
		ctx, cancel := h.ctx(r)
		defer cancel()
		fs, total, err := e.FindingsPage(ctx, f, n)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, FindingsPage{Findings: fs, Total: total})
		return
	}
	// An export may take minutes at scale; the client going away ends it.
	ctx, cancel := context.WithTimeout(r.Context(), max(h.opt.StoreTimeout, exportTimeout))
	defer cancel()
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	var n uint64
	err := e.EachFinding(ctx, f, func(x *reconcile.StoredFinding) error {
		if n == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
			_, _ = bw.WriteString(`{"findings":[`)
		} else {
			_ = bw.WriteByte(',')
		}
		n++
		return enc.Encode(x)
	})
	if err != nil {
		if n == 0 {
			h.fail(w, r, err)
			return
		}
		// The answer has begun: it ends unfinished, which a client reading
		// it sees as an error.
		h.log.Warn("streaming findings failed", "remote_addr", r.RemoteAddr, "findings_sent", n, "error", err)
		_ = bw.Flush()
		return
	}
	if n == 0 {
		writeJSON(w, http.StatusOK, FindingsPage{Findings: []reconcile.StoredFinding{}})
		return
	}
	fmt.Fprintf(bw, `],"total":%d}`+"\n", n)
	_ = bw.Flush()
}

// exportTimeout bounds a streamed export of findings.
const exportTimeout = 30 * time.Minute

// AckRequest is the body of POST PathFindings/{id}/ack.
type AckRequest struct {
	Reason string    `json:"reason"`
	Until  time.Time `json:"until,omitzero"`
}

func (h *handler) ackFinding(w http.ResponseWriter, r *http.Request) {
	var req AckRequest
	if !readJSON(w, r, &req) {
		return
	}
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	if err := e.Acknowledge(ctx, actorOf(r), r.PathValue("id"), req.Reason, req.Until); err != nil {
		h.regFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) registerFinding(w http.ResponseWriter, r *http.Request) {
	var a registry.Asset
	if !readJSON(w, r, &a) {
		return
	}
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	out, err := e.Register(ctx, actorOf(r), r.PathValue("id"), a)
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (h *handler) getRules(w http.ResponseWriter, r *http.Request) {
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	rs, err := e.Rules(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if rs == nil {
		rs = []reconcile.Rule{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": rs})
}

func (h *handler) postRule(w http.ResponseWriter, r *http.Request) {
	var rule reconcile.Rule
	if !readJSON(w, r, &rule) {
		return
	}
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	out, err := e.AddRule(ctx, actorOf(r), rule)
	if err != nil {
		h.regFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (h *handler) getKPIs(w http.ResponseWriter, r *http.Request) {
	e, ok := h.engine(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	k, err := e.KPIs(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}
