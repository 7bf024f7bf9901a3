// Package httpport is the HTTP API of the three services: one router per
// service, each with its command and query endpoints and its health check,
// answering JSON in one shape and refusing bad input with a clear error.
package httpport

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"shop/app/eventstore"
	"shop/ports/opsview"
)

// CorrelationHeader carries the correlation id in and out of every request.
const CorrelationHeader = "X-Correlation-ID"

// timeFormat is how times are written, in the API as in the operators' reports.
const timeFormat = opsview.TimeFormat

// Base is what the API of every service has.
type Base struct {
	// Service names the service in logs and metrics.
	Service string
	Logger  *slog.Logger
	Health  *Health
	// Metrics hears of every request and MetricsHandler serves /metrics;
	// either may be nil.
	Metrics        RequestObserver
	MetricsHandler http.Handler
	// Trace, when set, traces each request in a span; the access log line
	// and everything logged about the request carry its ids.
	Trace func(http.Handler) http.Handler
}

// RequestObserver records HTTP requests.
type RequestObserver interface {
	ObserveRequest(service, route, method string, status int, took time.Duration)
}

func newRouter(base Base) *mux.Router {
	logger := base.Logger
	r := mux.NewRouter()
	notFound := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, logger, &httpError{status: http.StatusNotFound, code: "route_not_found", message: "no endpoint at " + req.URL.Path})
	})
	notAllowed := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowed(r, req), ", "))
		writeError(w, req, logger, &httpError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: req.Method + " is not allowed on " + req.URL.Path})
	})
	// Requests no route matches bypass the router's middleware: wrap them too.
	r.NotFoundHandler = observe(base, correlate(notFound))
	r.MethodNotAllowedHandler = headAsGet(r, observe(base, correlate(notAllowed)))
	if base.Trace != nil {
		r.Use(base.Trace)
	}
	r.Use(func(next http.Handler) http.Handler { return observe(base, next) }, recoverPanics(logger), correlate)
	r.Handle("/health", base.Health).Methods(http.MethodGet)
	// Alive while it serves HTTP, whatever its dependencies: what a liveness
	// probe asks, so that an outage of the broker does not restart every pod.
	r.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	}).Methods(http.MethodGet)
	if base.MetricsHandler != nil {
		r.Handle("/metrics", base.MetricsHandler).Methods(http.MethodGet)
	}
	return r
}

// headAsGet answers HEAD on a path that takes GET as GET does, without the
// body (net/http leaves it out for HEAD); anything else is a 405.
func headAsGet(r *mux.Router, notAllowed http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodHead && slices.Contains(allowed(r, req), http.MethodGet) {
			get := req.Clone(req.Context())
			get.Method = http.MethodGet
			r.ServeHTTP(w, get)
			return
		}
		notAllowed.ServeHTTP(w, req)
	})
}

// allowed lists the methods a path takes, for the Allow header of a 405:
// gorilla/mux knows that a method did not match, not which would have.
func allowed(r *mux.Router, req *http.Request) []string {
	// A path of its own (/dead-letters/replay) says what it takes, before
	// a pattern that would also match it (/dead-letters/{id}).
	var literal, patterned []string
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		pattern, err := route.GetPathRegexp()
		if err != nil {
			return nil
		}
		ms, err := route.GetMethods()
		if err != nil {
			return nil
		}
		if ok, _ := regexp.MatchString(pattern, req.URL.Path); !ok {
			return nil
		}
		if tpl, _ := route.GetPathTemplate(); strings.Contains(tpl, "{") {
			patterned = append(patterned, ms...)
		} else {
			literal = append(literal, ms...)
		}
		return nil
	})
	if len(literal) > 0 {
		return slices.Compact(slices.Sorted(slices.Values(literal)))
	}
	return slices.Compact(slices.Sorted(slices.Values(patterned)))
}

// observe writes the access log line of a request and records its metrics.
func observe(base Base, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		route := "unmatched"
		if current := mux.CurrentRoute(r); current != nil {
			if tpl, err := current.GetPathTemplate(); err == nil {
				route = tpl
			}
		}
		if base.Metrics != nil {
			base.Metrics.ObserveRequest(base.Service, route, r.Method, rec.status, took)
		}
		level := slog.LevelInfo
		if route == "/health" || route == "/livez" || route == "/metrics" {
			level = slog.LevelDebug // probes and scrapes, every few seconds
		}
		// The service's logger names the service already.
		base.Logger.Log(r.Context(), level, "request", "method", r.Method, "route", route,
			"status", rec.status, "duration_ms", float64(took.Microseconds())/1000, "bytes", rec.bytes,
			"correlation_id", rec.Header().Get(CorrelationHeader))
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// correlate gives the request a correlation id (the caller's, or a new one) and
// puts it on the response and in the context, so that the events the request
// causes, and every message after them, carry it.
func correlate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(CorrelationHeader)
		if id == "" || len(id) > 128 {
			id = uuid.NewString()
		}
		w.Header().Set(CorrelationHeader, id)
		ctx := eventstore.WithCause(r.Context(), eventstore.Cause{CorrelationID: id, CausationID: "http:" + id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func recoverPanics(logger *slog.Logger) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					logger.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
					writeJSON(w, http.StatusInternalServerError, errorBody{errorDetail{Code: "internal", Message: "the request failed; the error was logged"}})
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// NewServer is an HTTP server with timeouts that keep slow clients from
// holding connections.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// Dependency is one thing a service needs, as /health reports it.
type Dependency struct {
	Name string
	// Required dependencies make the service unhealthy (503) when down.
	Required bool
	Check    func(ctx context.Context) error
}

// Breaker is a circuit breaker as /health reports it.
type Breaker interface {
	Name() string
	// State is "closed", "half-open" or "open".
	State() string
}

// Health answers /health in the platform's shape.
type Health struct {
	started  time.Time
	deps     []Dependency
	breakers []Breaker
	readers  ReadFailures
	// Partitions, when set, lists the partitions this replica consumes, by
	// service.
	Partitions func() map[string][]int
	// Senders, when set, names what delivers each notification channel.
	Senders map[string]string
}

// ReadFailures lists the consumer groups that cannot read the bus now, with
// why; nil where the bus does not tell.
type ReadFailures func() map[string]string

// NewHealth reports on deps, breakers and the bus's readers.
func NewHealth(breakers []Breaker, readers ReadFailures, deps ...Dependency) *Health {
	return &Health{started: time.Now(), deps: deps, breakers: breakers, readers: readers}
}

type healthBody struct {
	Status          string            `json:"status"`
	Timestamp       string            `json:"timestamp"`
	Uptime          int64             `json:"uptime"`
	Services        map[string]string `json:"services"`
	CircuitBreakers map[string]string `json:"circuitBreakers,omitempty"`
	// Consumers names the consumer groups that cannot read the bus.
	Consumers map[string]string `json:"consumers,omitempty"`
	// Partitions lists, by service, the partitions whose events this
	// replica handles; the other replicas handle the rest.
	Partitions map[string][]int `json:"partitions,omitempty"`
	// Senders names what delivers each notification channel: smtp, twilio,
	// webhook, or log where no provider is configured.
	Senders map[string]string `json:"senders,omitempty"`
}

func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := healthBody{
		Status:    "healthy",
		Timestamp: time.Now().UTC().Format(timeFormat),
		Uptime:    int64(time.Since(h.started).Seconds()),
		Services:  map[string]string{},
	}
	status := http.StatusOK
	for _, d := range h.deps {
		if err := d.Check(ctx); err != nil {
			body.Services[d.Name] = "disconnected"
			if d.Required {
				body.Status, status = "unhealthy", http.StatusServiceUnavailable
			} else if body.Status == "healthy" {
				body.Status = "degraded"
			}
			continue
		}
		body.Services[d.Name] = "connected"
	}
	if h.readers != nil {
		if failing := h.readers(); len(failing) > 0 {
			// The service answers, but some of its events wait: degraded,
			// not unhealthy, since restarting it would not make them come.
			body.Consumers = map[string]string{}
			for group, err := range failing {
				body.Consumers[group] = "cannot read: " + err
			}
			if body.Status == "healthy" {
				body.Status = "degraded"
			}
		}
	}
	if len(h.breakers) > 0 {
		body.CircuitBreakers = map[string]string{}
		for _, b := range h.breakers {
			body.CircuitBreakers[b.Name()] = b.State()
		}
	}
	body.Senders = h.Senders
	if h.Partitions != nil {
		body.Partitions = h.Partitions()
	}
	writeJSON(w, status, body)
}
