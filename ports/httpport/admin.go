package httpport

import (
	"cmp"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"shop/app/operations"
	"shop/ports/opsview"
)

// maxReplayPerRequest bounds what one admin request replays: a replay runs
// while the request waits. Larger replays belong to the command line.
const maxReplayPerRequest = 10_000

// mountAdmin adds the operators' routes under /admin, each behind the bearer
// token. Without a token they are not mounted at all.
func mountAdmin(r *mux.Router, ops *operations.Operations, token string, logger *slog.Logger) {
	if token == "" || ops == nil {
		return
	}
	a := adminHandler{ops: ops, logger: logger}
	admin := r.PathPrefix("/admin").Subrouter()
	// A subrouter answers a wrong method with the router's 405 only when
	// told to (a NotFoundHandler here would take the place of every 405).
	admin.MethodNotAllowedHandler = r.MethodNotAllowedHandler
	admin.Use(requireToken(token, logger))
	// Each path of its own answers another method with a 405, not with a
	// pattern beside it (GET /dead-letters/replay is no dead letter's id)
	// nor a 404 (gorilla/mux loses the method mismatch of a path that has
	// siblings): its catch-all comes after it, before the patterns.
	for _, route := range []struct {
		path, method string
		handle       http.HandlerFunc
	}{
		{"/replay", http.MethodPost, a.replayEvents},
		{"/replay/stats", http.MethodGet, a.stats},
		{"/dead-letters", http.MethodGet, a.deadLetters},
		{"/dead-letters/replay", http.MethodPost, a.replayDeadLetters},
		{"/dead-letters/discard", http.MethodPost, a.discardDeadLetters},
		{"/dead-letters/stats", http.MethodGet, a.deadLetterStats},
		{"/projections/rebuild", http.MethodPost, a.rebuild},
		{"/snapshots/rebuild", http.MethodPost, a.rebuildSnapshots},
	} {
		admin.HandleFunc(route.path, route.handle).Methods(route.method)
		admin.Handle(route.path, r.MethodNotAllowedHandler)
	}
	admin.HandleFunc("/dead-letters/{id}", a.deadLetter).Methods(http.MethodGet)
	admin.HandleFunc("/customers/{customerId}/erase", a.eraseCustomer).Methods(http.MethodPost)
}

func requireToken(token string, logger *slog.Logger) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="admin"`)
				writeError(w, r, logger, &httpError{status: http.StatusUnauthorized, code: "unauthorized", message: "the admin API needs Authorization: Bearer <ADMIN_TOKEN>"})
				return
			}
			// An operator's replay or rebuild answers when it is done, which
			// can be later than the server's write timeout: the report would
			// be cut off after the work was done. The operator's client
			// bounds the wait instead.
			if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
				logger.WarnContext(r.Context(), "admin request keeps the server's write timeout", "error", err)
			}
			next.ServeHTTP(w, r)
		})
	}
}

type adminHandler struct {
	ops    *operations.Operations
	logger *slog.Logger
}

// operator names who acted, for the archive's history.
func operator(r *http.Request) string {
	if who := r.Header.Get("X-Operator"); who != "" && len(who) <= 100 {
		return who + " (admin API)"
	}
	return "admin API"
}

// parseTime reads a date (2023-12-01) or a time (RFC 3339).
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := opsview.ParseTime(s)
	if err != nil {
		return time.Time{}, &httpError{status: http.StatusBadRequest, code: "invalid_parameter", message: field + " must be a date (2023-12-01) or an RFC 3339 time"}
	}
	return t, nil
}

type replayEventsRequest struct {
	EventType   string   `json:"eventType"`
	AggregateID string   `json:"aggregateId"`
	EventIDs    []string `json:"eventIds"`
	StartDate   string   `json:"startDate"`
	EndDate     string   `json:"endDate"`
	Status      string   `json:"status"`
	Services    []string `json:"services"`
	Limit       int      `json:"limit"`
	DryRun      bool     `json:"dryRun"`
	DelayMs     int      `json:"delayMs"`
	MaxReplays  int      `json:"maxReplays"`
	All         bool     `json:"all"`
}

func (a adminHandler) replayEvents(w http.ResponseWriter, r *http.Request) {
	var req replayEventsRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	since, err := parseTime("startDate", req.StartDate)
	if err == nil {
		var until time.Time
		if until, err = parseTime("endDate", req.EndDate); err == nil {
			err = checkReplayBounds(req.Limit, req.DelayMs)
			if err == nil {
				a.runEventReplay(w, r, req, since, until)
				return
			}
		}
	}
	writeError(w, r, a.logger, err)
}

// writeReport answers with what an operation did. Without a limit of its
// own a request acts on maxReplayPerRequest at most: when that many were
// selected, limitReached says that more may match.
func writeReport(w http.ResponseWriter, report operations.Report, requestedLimit int) {
	writeJSON(w, http.StatusOK, struct {
		Success      bool           `json:"success"`
		LimitReached bool           `json:"limitReached,omitempty"`
		Report       opsview.Report `json:"report"`
	}{true, requestedLimit == 0 && report.Selected >= maxReplayPerRequest, opsview.FromReport(report)})
}

func checkReplayBounds(limit, delayMs int) error {
	if limit < 0 || limit > maxReplayPerRequest {
		return badRequest("invalid_parameter", "limit must be from 0 (all, up to 10000) to 10000")
	}
	if delayMs < 0 || delayMs > 60_000 {
		return badRequest("invalid_parameter", "delayMs must be from 0 to 60000")
	}
	return nil
}

func (a adminHandler) runEventReplay(w http.ResponseWriter, r *http.Request, req replayEventsRequest, since, until time.Time) {
	limit := req.Limit
	if limit == 0 {
		limit = maxReplayPerRequest
	}
	report, err := a.ops.Replay(r.Context(), operations.ReplayRequest{
		Status: req.Status, EventType: req.EventType, AggregateID: req.AggregateID, EventIDs: req.EventIDs,
		Since: since, Until: until, Services: req.Services, All: req.All, Limit: limit,
		MaxReplays: cmp.Or(req.MaxReplays, operations.DefaultMaxReplays), DryRun: req.DryRun,
		Pace: operations.Pace{Delay: time.Duration(req.DelayMs) * time.Millisecond}, By: operator(r),
	}, nil)
	if err != nil {
		writeError(w, r, a.logger, operationsError(err))
		return
	}
	writeReport(w, report, req.Limit)
}

// operationsError answers an operator's invalid argument with 400; its other
// refusals are answered by their kind, as every refusal is.
func operationsError(err error) error {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return err
	case errors.Is(err, operations.ErrInvalidArgument):
		// An argument of the request, not its entity: 400, not 422, with
		// the one code of the API's bad parameters; the message says the
		// rule once, without the sentinel's words before it.
		msg := err.Error()
		for strings.HasPrefix(msg, operations.ErrInvalidArgument.Error()+": ") {
			msg = strings.TrimPrefix(msg, operations.ErrInvalidArgument.Error()+": ")
		}
		return badRequest("invalid_parameter", msg)
	}
	return err
}

func (a adminHandler) stats(w http.ResponseWriter, r *http.Request) {
	stats, err := a.ops.DeadLetterStats(r.Context(), operations.DeadLetterFilter{})
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	runs, err := a.ops.RecentRuns(r.Context(), 20)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Success     bool          `json:"success"`
		DeadLetters opsview.Stats `json:"deadLetters"`
		RecentRuns  []opsview.Run `json:"recentRuns"`
	}{true, opsview.FromStats(stats), mapSlice(runs, opsview.FromRun)})
}

// deadLetterStats counts the dead letters the query's filter selects, as
// `shop poison stats` does.
func (a adminHandler) deadLetterStats(w http.ResponseWriter, r *http.Request) {
	f, err := deadLetterFilter(r)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	stats, err := a.ops.DeadLetterStats(r.Context(), f)
	if err != nil {
		writeError(w, r, a.logger, operationsError(err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Success bool          `json:"success"`
		Stats   opsview.Stats `json:"stats"`
	}{true, opsview.FromStats(stats)})
}

// deadLetterFilter reads the dead letter filter of a query string.
func deadLetterFilter(r *http.Request) (operations.DeadLetterFilter, error) {
	q := r.URL.Query()
	f := operations.DeadLetterFilter{Handler: q.Get("handler"), Topic: q.Get("topic"), EventType: q.Get("eventType"), Reason: q.Get("reason")}
	var err error
	if f.Since, err = parseTime("since", q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return f, err
	}
	if ids := q.Get("ids"); ids != "" {
		f.IDs = strings.Split(ids, ",")
	}
	if s := q.Get("status"); s != "" {
		for _, name := range strings.Split(s, ",") {
			st, err := operations.StatusFromString(name)
			if err != nil {
				return f, badRequest("invalid_parameter", err.Error())
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		return f, err
	}
	if err := f.Validate(); err != nil {
		return f, badRequest("invalid_filter", err.Error())
	}
	return f, nil
}

func (a adminHandler) deadLetters(w http.ResponseWriter, r *http.Request) {
	f, err := deadLetterFilter(r)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	// One more than the page tells whether more match.
	limit := f.Limit
	f.Limit++
	list, err := a.ops.DeadLetters(r.Context(), f)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	more := len(list) > limit
	list = list[:min(len(list), limit)]
	writeJSON(w, http.StatusOK, struct {
		Success     bool                 `json:"success"`
		More        bool                 `json:"more"`
		DeadLetters []opsview.DeadLetter `json:"deadLetters"`
	}{true, more, mapSlice(list, func(d operations.DeadLetter) opsview.DeadLetter { return opsview.FromDeadLetter(d, false) })})
}

func (a adminHandler) deadLetter(w http.ResponseWriter, r *http.Request) {
	d, err := a.ops.DeadLetter(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		writeError(w, r, a.logger, operationsError(err))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Success    bool               `json:"success"`
		DeadLetter opsview.DeadLetter `json:"deadLetter"`
	}{true, opsview.FromDeadLetter(d, true)})
}

type deadLetterRequest struct {
	IDs        []string `json:"ids"`
	Handler    string   `json:"handler"`
	Topic      string   `json:"topic"`
	EventType  string   `json:"eventType"`
	Reason     string   `json:"reason"`
	Since      string   `json:"since"`
	Until      string   `json:"until"`
	Statuses   []string `json:"statuses"`
	Limit      int      `json:"limit"`
	DryRun     bool     `json:"dryRun"`
	DelayMs    int      `json:"delayMs"`
	MaxReplays int      `json:"maxReplays"`
	All        bool     `json:"all"`
}

func (req deadLetterRequest) filter() (operations.DeadLetterFilter, error) {
	f := operations.DeadLetterFilter{IDs: req.IDs, Handler: req.Handler, Topic: req.Topic, EventType: req.EventType, Reason: req.Reason, Limit: req.Limit, All: req.All}
	var err error
	if f.Since, err = parseTime("since", req.Since); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", req.Until); err != nil {
		return f, err
	}
	for _, name := range req.Statuses {
		st, err := operations.StatusFromString(name)
		if err != nil {
			return f, badRequest("invalid_parameter", err.Error())
		}
		f.Statuses = append(f.Statuses, st)
	}
	if err := checkReplayBounds(req.Limit, req.DelayMs); err != nil {
		return f, err
	}
	if f.Limit == 0 {
		f.Limit = maxReplayPerRequest
	}
	if err := f.Validate(); err != nil {
		return f, badRequest("invalid_filter", err.Error())
	}
	return f, nil
}

func (a adminHandler) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	var req deadLetterRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	f, err := req.filter()
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	maxReplays := cmp.Or(req.MaxReplays, operations.DefaultMaxReplays)
	report, err := a.ops.ReplayDeadLetters(r.Context(), f, maxReplays, req.DryRun, operations.Pace{Delay: time.Duration(req.DelayMs) * time.Millisecond}, operator(r), nil)
	if err != nil {
		writeError(w, r, a.logger, operationsError(err))
		return
	}
	writeReport(w, report, req.Limit)
}

func (a adminHandler) discardDeadLetters(w http.ResponseWriter, r *http.Request) {
	var req deadLetterRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	f, err := req.filter()
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	report, err := a.ops.DiscardDeadLetters(r.Context(), f, req.DryRun, operator(r))
	if err != nil {
		writeError(w, r, a.logger, operationsError(err))
		return
	}
	writeReport(w, report, req.Limit)
}

type rebuildRequest struct {
	Projection string `json:"projection"`
}

type snapshotRebuildRequest struct {
	AggregateType string `json:"aggregateType"`
}

// rebuildSnapshots takes the snapshots of one aggregate type, or of every
// one, again from every event.
func (a adminHandler) rebuildSnapshots(w http.ResponseWriter, r *http.Request) {
	var req snapshotRebuildRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	reports, err := a.ops.RebuildSnapshots(r.Context(), req.AggregateType, nil)
	if err != nil {
		writeError(w, r, a.logger, operationsError(err))
		return
	}
	views := make([]opsview.SnapshotRebuild, len(reports))
	for i, report := range reports {
		views[i] = opsview.FromSnapshotRebuild(report)
	}
	writeJSON(w, http.StatusOK, struct {
		Success   bool                      `json:"success"`
		Snapshots []opsview.SnapshotRebuild `json:"snapshots"`
	}{true, views})
}

// eraseCustomer erases a customer's personal data; it takes no body.
func (a adminHandler) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	erasure, err := a.ops.EraseCustomer(r.Context(), mux.Vars(r)["customerId"])
	if err != nil {
		writeError(w, r, a.logger, operationsError(err))
		return
	}
	a.logger.InfoContext(r.Context(), "customer's personal data erased", "customer_id", erasure.CustomerID,
		"key_deleted", erasure.KeyDeleted, "events_redacted", erasure.EventsRedacted, "by", operator(r))
	writeJSON(w, http.StatusOK, struct {
		Success bool            `json:"success"`
		Erasure opsview.Erasure `json:"erasure"`
	}{true, opsview.FromErasure(erasure)})
}

func (a adminHandler) rebuild(w http.ResponseWriter, r *http.Request) {
	var req rebuildRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	names := a.ops.Projections()
	if req.Projection != "" {
		names = []string{req.Projection}
	}
	var done []opsview.Rebuild
	for _, name := range names {
		report, err := a.ops.RebuildProjection(r.Context(), name, nil)
		if err != nil {
			writeError(w, r, a.logger, operationsError(err))
			return
		}
		done = append(done, opsview.FromRebuild(report))
	}
	writeJSON(w, http.StatusOK, struct {
		Success  bool              `json:"success"`
		Rebuilds []opsview.Rebuild `json:"rebuilds"`
	}{true, done})
}
