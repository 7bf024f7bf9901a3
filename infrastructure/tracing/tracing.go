// Package tracing traces what the services do with OpenTelemetry: a span
// per HTTP request (otelhttp), per event store append, per publish and per
// handler delivery, joined into one trace by the W3C trace context that
// records and messages carry. Spans go to an OTLP collector over HTTP, as
// the standard OTEL_* variables say; without them nothing is traced.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation names the spans' origin.
const instrumentation = "shop"

// Tracing starts spans and carries their context across processes. A nil
// *Tracing traces nothing: callers check for nil once, when they wire it,
// and a service without tracing pays nothing per message.
type Tracing struct {
	provider   trace.TracerProvider
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// Config is what the OTEL_* variables say, as the service's configuration
// read them; the exporter reads the endpoint, headers, timeout and
// compression from the environment itself.
type Config struct {
	// Enabled is set when OTEL_TRACES_EXPORTER is otlp, or an OTLP
	// endpoint is set, and OTEL_SDK_DISABLED is not true.
	Enabled bool
	// ServiceName is the resource's service.name unless OTEL_SERVICE_NAME
	// (or OTEL_RESOURCE_ATTRIBUTES) names one; the process sets it from the
	// services it runs.
	ServiceName string
}

// New exports spans over OTLP/HTTP in batches, sampled as
// OTEL_TRACES_SAMPLER says (every trace by default); nil when cfg is not
// enabled.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	// The service name first: the environment's, merged after, wins.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(), resource.WithProcessPID())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	t := WithProvider(provider)
	t.shutdown = provider.Shutdown
	return t, nil
}

// WithProvider traces with the given provider: a test's, which records the
// spans in memory.
func WithProvider(provider trace.TracerProvider) *Tracing {
	return &Tracing{
		provider: provider,
		tracer:   provider.Tracer(instrumentation),
		// The trace context alone (traceparent and tracestate): a caller's
		// baggage would be stored with every event its request caused.
		propagator: propagation.TraceContext{},
		shutdown:   func(context.Context) error { return nil },
	}
}

// Shutdown exports the spans still buffered.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Start starts a span, a child of the one in ctx.
func (t *Tracing) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, name, opts...)
}

// Inject returns the trace context of ctx's span as a carrier of its own
// (traceparent, and tracestate when there is one); nil when ctx has no
// span.
func (t *Tracing) Inject(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	t.propagator.Inject(ctx, carrier)
	return carrier
}

// Extract returns ctx with the remote span that the carrier names as its
// parent; ctx as it was when the carrier names none.
func (t *Tracing) Extract(ctx context.Context, carrier map[string]string) context.Context {
	if len(carrier) == 0 {
		return ctx
	}
	return t.propagator.Extract(ctx, propagation.MapCarrier(carrier))
}

// Keys are the carrier's keys the propagator writes: the metadata keys a
// message carries its trace context in.
func (t *Tracing) Keys() []string { return t.propagator.Fields() }

// HTTP traces every request but the probes' and the metrics scrapes', in a
// server span named by its route ("POST /orders/{orderId}/cancel"), a child
// of the caller's span when the request carries a traceparent.
func (t *Tracing) HTTP(service string) mux.MiddlewareFunc {
	return otelhttp.NewMiddleware(service,
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/health", "/livez", "/metrics":
				return false
			}
			return true
		}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if route := mux.CurrentRoute(r); route != nil {
				if tpl, err := route.GetPathTemplate(); err == nil {
					return r.Method + " " + tpl
				}
			}
			return r.Method
		}),
	)
}
